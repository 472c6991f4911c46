import { describe, expect, it } from "vitest";
import { explain, Status } from "../src/errors.js";

describe("errors in Chinese", () => {
  it("tells a wrong password from an expired session", () => {
    expect(explain(Status.Unauthenticated, "invalid credentials", "", true)).toEqual({ kind: "credentials", message: "用户名或密码错误" });
    expect(explain(Status.Unauthenticated, "session expired")).toEqual({ kind: "expired", message: "登录已超时，请重新登录" });
    expect(explain(Status.Unauthenticated, "unknown or ended session")).toEqual({ kind: "expired", message: "登录已失效，请重新登录" });
    expect(explain(Status.Unauthenticated, "wrong password").kind).toBe("credentials");
  });
  it("says until when an account is locked, in Beijing time", () => {
    const e = explain(Status.FailedPrecondition, "account locked until 2026-12-06T13:45:00Z");
    expect(e.kind).toBe("locked");
    expect(e.message).toContain("2026-12-06 21:45");
  });
  it("calls an unreachable server unreachable", () => {
    expect(explain(Status.Unavailable, "").kind).toBe("unreachable");
    expect(explain(Status.Unknown, "[unknown] Failed to fetch").kind).toBe("unreachable");
    expect(explain(Status.Unknown, "boom").kind).toBe("other");
  });
  it("tells a stale case from other failures", () => {
    expect(explain(Status.Aborted, "etag mismatch").kind).toBe("stale");
  });
  it("names a step's reason when it knows it", () => {
    expect(explain(Status.FailedPrecondition, "x", "CASE_ALREADY_ACCEPTED").message).toBe("操作未完成：案件已受理");
    expect(explain(Status.FailedPrecondition, "something else").message).toBe("操作未完成：something else");
  });
});
