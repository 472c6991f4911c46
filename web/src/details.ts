// The google.rpc error details the workbench reads (ErrorInfo, RetryInfo, BadRequest), read field by field
// with protobuf-es's wire reader: three small messages are not worth generating the google.rpc protos into the
// bundle, and they are not part of proto/. Kept apart from the transport so that `npm test` checks them.

import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

/** A detail as connect-web hands it over: the message's full type name and its bytes. */
export interface RawDetail {
  type: string;
  value: Uint8Array;
}

/** A field the server named as bad (google.rpc.BadRequest.FieldViolation). */
export interface Violation {
  field: string;
  description: string;
}

type Field = { number: number; bytes?: Uint8Array; varint?: number };

/** The top-level fields of a message: length-delimited ones with their bytes, varints with their value.
 *  Stops at malformed bytes, keeping what was read before them. */
function fields(bytes: Uint8Array): Field[] {
  const out: Field[] = [];
  const reader = new BinaryReader(bytes);
  try {
    while (reader.pos < reader.len) {
      const [number, wire] = reader.tag();
      if (wire === WireType.Varint) out.push({ number, varint: Number(reader.uint64()) });
      else if (wire === WireType.LengthDelimited) out.push({ number, bytes: reader.bytes() });
      else reader.skip(wire, number);
    }
  } catch {
    // Truncated or malformed: the fields read so far are all there is.
  }
  return out;
}

const text = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : "");

/** The reason of the google.rpc.ErrorInfo among the details, or "". */
export function errorReason(details: readonly RawDetail[]): string {
  for (const d of details) {
    if (d.type !== "google.rpc.ErrorInfo") continue;
    return text(fields(d.value).find((f) => f.number === 1)?.bytes);
  }
  return "";
}

/** The delay of the google.rpc.RetryInfo among the details, in milliseconds, or null when there is none. */
export function retryDelayMs(details: readonly RawDetail[]): number | null {
  for (const d of details) {
    if (d.type !== "google.rpc.RetryInfo") continue;
    const delay = fields(d.value).find((f) => f.number === 1)?.bytes;
    if (!delay) return 0;
    const parts = fields(delay);
    const seconds = parts.find((f) => f.number === 1)?.varint ?? 0;
    const nanos = parts.find((f) => f.number === 2)?.varint ?? 0;
    return seconds * 1000 + Math.ceil(nanos / 1e6);
  }
  return null;
}

/** The fields of the google.rpc.BadRequest among the details, in the server's order. */
export function violations(details: readonly RawDetail[]): Violation[] {
  const out: Violation[] = [];
  for (const d of details) {
    if (d.type !== "google.rpc.BadRequest") continue;
    for (const v of fields(d.value)) {
      if (v.number !== 1 || !v.bytes) continue;
      const parts = fields(v.bytes);
      out.push({
        field: text(parts.find((f) => f.number === 1)?.bytes),
        description: text(parts.find((f) => f.number === 2)?.bytes),
      });
    }
  }
  return out;
}
