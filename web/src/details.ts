// The google.rpc error details the workbench reads (ErrorInfo, RetryInfo, BadRequest), decoded by hand from
// their wire bytes: three small messages are not worth generating the google.rpc protos into the bundle, and
// they are not part of proto/. Kept apart from the transport so that `npm test` checks them.

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
 *  Stops at anything else (or at malformed bytes), since none of the messages read here has such fields. */
function fields(bytes: Uint8Array): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = (): number | null => {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (i >= bytes.length) return null;
      const b = bytes[i++]!;
      v += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) return v;
    }
  };
  while (i < bytes.length) {
    const tag = varint();
    if (tag === null) break;
    const number = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      const v = varint();
      if (v === null) break;
      out.push({ number, varint: v });
    } else if (wire === 2) {
      const len = varint();
      if (len === null || i + len > bytes.length) break;
      out.push({ number, bytes: bytes.subarray(i, i + len) });
      i += len;
    } else {
      break;
    }
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
