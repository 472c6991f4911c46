import { describe, expect, it } from "vitest";
import { BATCH_SIZE, getInChunks } from "../src/batch.js";
import { errorReason, retryDelayMs, violations } from "../src/details.js";
import { explain, fieldLabel, Status } from "../src/errors.js";
import { MAX_RETRIES, withRetries } from "../src/retry.js";

// Protobuf wire bytes, written by hand as the server's tonic-types would write them.
const varint = (n: number): number[] => {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
};
const bytesField = (no: number, b: number[]) => [...varint(no * 8 + 2), ...varint(b.length), ...b];
const textField = (no: number, s: string) => bytesField(no, [...new TextEncoder().encode(s)]);
const varintField = (no: number, n: number) => [...varint(no * 8), ...varint(n)];
const retryInfo = (seconds: number, nanos: number) => ({
  type: "google.rpc.RetryInfo",
  value: new Uint8Array(bytesField(1, [...(seconds ? varintField(1, seconds) : []), ...(nanos ? varintField(2, nanos) : [])])),
});

describe("error details", () => {
  it("reads RetryInfo's delay in milliseconds", () => {
    expect(retryDelayMs([retryInfo(0, 200_000_000)])).toBe(200);
    expect(retryDelayMs([retryInfo(2, 1)])).toBe(2001);
    expect(retryDelayMs([{ type: "google.rpc.ErrorInfo", value: new Uint8Array(textField(1, "X")) }])).toBeNull();
  });
  it("reads BadRequest's fields and ErrorInfo's reason", () => {
    const violation = (f: string, d: string) => bytesField(1, [...textField(1, f), ...textField(2, d)]);
    const bad = {
      type: "google.rpc.BadRequest",
      value: new Uint8Array([...violation("visit.petitioners[0].id_number", "invalid check digit"), ...violation("ids[2]", "must be a case id (UUID)")]),
    };
    expect(violations([bad])).toEqual([
      { field: "visit.petitioners[0].id_number", description: "invalid check digit" },
      { field: "ids[2]", description: "must be a case id (UUID)" },
    ]);
    const info = { type: "google.rpc.ErrorInfo", value: new Uint8Array([...textField(1, "CASE_FINAL"), ...textField(2, "xinfang.v1")]) };
    expect(errorReason([bad, info])).toBe("CASE_FINAL");
    // Truncated bytes are read as far as they go, never thrown on.
    expect(violations([{ type: "google.rpc.BadRequest", value: new Uint8Array([0x0a, 0x40, 0x0a]) }])).toEqual([]);
  });
});

describe("field labels", () => {
  it("names a field as the form labels it", () => {
    expect(fieldLabel("visit.petitioners[0].id_number")).toBe("第1位信访人的身份证号");
    expect(fieldLabel("letter.petitioners[1].name")).toBe("第2位信访人的姓名");
    expect(fieldLabel("visit.matter.content")).toBe("诉求内容（事实与理由）");
    expect(fieldLabel("visit.place_name")).toBe("接待地点");
    expect(fieldLabel("handling_deadline")).toBe("交办期限");
    expect(fieldLabel("something.unknown")).toBe("something.unknown");
  });
  it("says 填写有误 with each field in Chinese and the server's words", () => {
    const e = explain(Status.InvalidArgument, "visit.petitioners[0].id_number: invalid check digit", "", false, [
      { field: "visit.petitioners[0].id_number", description: "invalid check digit" },
      { field: "visit.matter.demands", description: "required" },
    ]);
    expect(e.message).toBe("填写有误：第1位信访人的身份证号（invalid check digit）；主要诉求（required）");
    // No BadRequest: the server's message as before.
    expect(explain(Status.InvalidArgument, "bad").message).toBe("填写有误：bad");
  });
});

describe("retrying RESOURCE_EXHAUSTED", () => {
  const refused = { code: Status.ResourceExhausted, delay: 200 };
  const delayOf = (e: unknown) => ((e as typeof refused).code === Status.ResourceExhausted ? (e as typeof refused).delay : null);

  it("waits the server's delay and tries again", async () => {
    const waits: number[] = [];
    let calls = 0;
    const value = await withRetries(
      async () => {
        if (++calls < 3) throw refused;
        return "ok";
      },
      delayOf,
      { sleep: async (ms) => void waits.push(ms), random: () => 0 },
    );
    expect(value).toBe("ok");
    expect(waits).toEqual([200, 200]);
  });
  it("gives up after a few tries and throws the refusal", async () => {
    let calls = 0;
    const waits: number[] = [];
    await expect(
      withRetries(
        async () => {
          calls++;
          throw refused;
        },
        delayOf,
        { sleep: async (ms) => void waits.push(ms), random: () => 0.5 },
      ),
    ).rejects.toBe(refused);
    expect(calls).toBe(MAX_RETRIES + 1);
    expect(waits).toEqual([220, 220, 220]);
  });
  it("does not retry other errors or a delay too long to wait", async () => {
    for (const e of [{ code: Status.InvalidArgument }, { code: Status.ResourceExhausted, delay: 60_000 }]) {
      let calls = 0;
      await expect(
        withRetries(
          async () => {
            calls++;
            throw e;
          },
          delayOf,
          { sleep: async () => {} },
        ),
      ).rejects.toBe(e);
      expect(calls).toBe(1);
    }
  });
});

describe("batches of cases", () => {
  it("asks a thousand at a time and keeps the order", async () => {
    const ids = Array.from({ length: 2_345 }, (_, i) => `id${i}`);
    const asked: number[] = [];
    const got = await getInChunks(ids, async (part) => (asked.push(part.length), part.map((x) => x.toUpperCase())), () => false);
    expect(asked).toEqual([BATCH_SIZE, BATCH_SIZE, 345]);
    expect(got).toEqual(ids.map((x) => x.toUpperCase()));
  });
  it("halves a chunk whose answer is too large", async () => {
    const ids = Array.from({ length: 1_000 }, (_, i) => `id${i}`);
    const asked: number[] = [];
    const got = await getInChunks(
      ids,
      async (part) => {
        asked.push(part.length);
        if (part.length > 300) throw new Error("too large");
        return part;
      },
      (e) => (e as Error).message === "too large",
    );
    expect(got).toEqual(ids);
    expect(asked).toEqual([1000, 500, 500, 250, 250, 250, 250]);
  });
  it("passes other failures on", async () => {
    await expect(getInChunks(["a"], async () => Promise.reject(new Error("not found")), () => false)).rejects.toThrow("not found");
  });
});
