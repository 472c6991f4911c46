// The gRPC-Web clients of xinfang's API, the session token, and what a failed call does to the page.

import { createClient, type Client, ConnectError, type Interceptor, Code } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import type { DescService } from "@bufbuild/protobuf";
import { CaseService } from "./gen/xinfang/v1/cases_pb.js";
import { DictionaryService } from "./gen/xinfang/v1/dictionary_pb.js";
import { FundService } from "./gen/xinfang/v1/funds_pb.js";
import { MetricsService } from "./gen/xinfang/v1/metrics_pb.js";
import { OrgService } from "./gen/xinfang/v1/org_pb.js";
import { SessionService } from "./gen/xinfang/v1/session_pb.js";
import { VisitService } from "./gen/xinfang/v1/visits_pb.js";
import { explain, type Explained } from "./errors.js";

const TOKEN_KEY = "xinfang.session";

/** The session token lives in sessionStorage: it survives a reload of the tab but not the tab itself, and
 *  no other site can read it (the page and the API share one origin). */
export function sessionToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setSessionToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

const bearer: Interceptor = (next) => async (req) => {
  const token = sessionToken();
  if (token) req.header.set("authorization", `Bearer ${token}`);
  return next(req);
};

/** The server lets each principal have 4 calls in flight and refuses more after a short wait (fair share,
 *  docs/access.md); the dashboard asks for a figure per township and per month at once, so calls queue here,
 *  at most 4 at a time, instead of being refused there. */
const MAX_IN_FLIGHT = 4;
let inFlight = 0;
const waiting: (() => void)[] = [];
const limiter: Interceptor = (next) => async (req) => {
  if (inFlight >= MAX_IN_FLIGHT) await new Promise<void>((resolve) => waiting.push(resolve));
  else inFlight++;
  try {
    return await next(req);
  } finally {
    // The slot passes straight to the next waiting call, or is freed.
    const wake = waiting.shift();
    if (wake) wake();
    else inFlight--;
  }
};

// Same origin as the page: the server serves both the workbench and gRPC-Web on its listen address.
const transport = createGrpcWebTransport({
  baseUrl: location.origin,
  interceptors: [limiter, bearer],
  defaultTimeoutMs: 30_000,
});

function client<T extends DescService>(service: T): Client<T> {
  return createClient(service, transport);
}

export const api = {
  session: client(SessionService),
  dictionary: client(DictionaryService),
  cases: client(CaseService),
  visits: client(VisitService),
  metrics: client(MetricsService),
  funds: client(FundService),
  org: client(OrgService),
};

/** Explains any thrown value (a ConnectError, or anything else a call can throw). */
export function explainError(e: unknown, signingIn = false): Explained {
  const err = ConnectError.from(e);
  return explain(err.code, err.rawMessage, errorReason(err), signingIn);
}

/** Called when a call finds the session expired: the page goes back to sign-in with the message. */
let onExpired: (message: string) => void = () => {};
export function setExpiredHandler(handler: (message: string) => void): void {
  onExpired = handler;
}

/** Runs a call; on failure returns the explanation (and sends an expired session back to sign-in). */
export async function attempt<T>(call: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: Explained }> {
  try {
    return { ok: true, value: await call() };
  } catch (e) {
    const error = explainError(e);
    if (error.kind === "expired") {
      setSessionToken(null);
      onExpired(error.message);
    }
    return { ok: false, error };
  }
}

/** The reason of the google.rpc.ErrorInfo among the error's details, read by hand: field 1 (reason) is the
 *  only one needed, and the google.rpc protos are not part of proto/. */
function errorReason(err: ConnectError): string {
  for (const d of err.details) {
    if (!("type" in d) || d.type !== "google.rpc.ErrorInfo") continue;
    const bytes: Uint8Array = d.value;
    let i = 0;
    while (i < bytes.length) {
      const tag = bytes[i++]!;
      let len = 0;
      let shift = 0;
      for (;;) {
        const b = bytes[i++]!;
        len |= (b & 0x7f) << shift;
        shift += 7;
        if (b < 0x80) break;
      }
      if (tag !== 0x0a) {
        if ((tag & 7) !== 2) break; // only length-delimited fields are expected in ErrorInfo
        i += len;
        continue;
      }
      return new TextDecoder().decode(bytes.subarray(i, i + len));
    }
  }
  return "";
}

/** A client-side idempotency key for a mutation (common.proto): a UUIDv4 from getRandomValues, since
 *  crypto.randomUUID exists only in secure contexts and the workbench may be served over plain HTTP on a
 *  bureau's LAN. */
export function requestId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export { Code };
