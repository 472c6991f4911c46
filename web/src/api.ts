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
import { errorReason, retryDelayMs, violations } from "./details.js";
import { explain, type Explained } from "./errors.js";
import { DEFAULT_WAIT_MS, withRetries } from "./retry.js";

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

/** The server lets each principal have a few calls in flight (its fair share: GetCaller's max_in_flight,
 *  fewer on a small machine) and refuses more after a short wait (docs/access.md); the dashboard asks for a
 *  figure per township and per month at once, so calls queue here, at most that many at a time, instead of
 *  being refused there. Until the caller is known (signing in), one at a time. */
let maxInFlight = 1;
let inFlight = 0;
const waiting: (() => void)[] = [];

/** Sets how many calls run at once: the caller's fair share as the server tells it (at least one). */
export function setMaxInFlight(n: number): void {
  maxInFlight = Math.max(1, Math.floor(n) || 1);
  // A larger share lets queued calls go at once.
  while (inFlight < maxInFlight && waiting.length > 0) {
    inFlight++;
    waiting.shift()!();
  }
}

const limiter: Interceptor = (next) => async (req) => {
  if (inFlight >= maxInFlight) await new Promise<void>((resolve) => waiting.push(resolve));
  else inFlight++;
  try {
    return await next(req);
  } finally {
    // The slot passes straight to the next waiting call, or is freed.
    const wake = inFlight <= maxInFlight ? waiting.shift() : undefined;
    if (wake) wake();
    else inFlight--;
  }
};

/** RESOURCE_EXHAUSTED is tried again after the delay the server's google.rpc.RetryInfo gives, a few times,
 *  before the page shows it: the server's fair share per principal may be set below the four calls queued
 *  above (a small machine), or another tab of the same person holds some of it. Inside the queue, so a call
 *  waiting to try again keeps its slot and the page does not press the server harder meanwhile. */
const retry: Interceptor = (next) => async (req) => {
  if (req.stream) return next(req);
  return withRetries(
    () => next(req),
    (e) => {
      const err = ConnectError.from(e);
      if (err.code !== Code.ResourceExhausted) return null;
      return retryDelayMs(err.details.filter(isRaw)) ?? DEFAULT_WAIT_MS;
    },
  );
};

/** The details of an error as the transport leaves them: not yet decoded, with their type name. */
function isRaw(d: ConnectError["details"][number]): d is { type: string; value: Uint8Array } {
  return "type" in d && "value" in d;
}

// Same origin as the page: the server serves both the workbench and gRPC-Web on its listen address.
const transport = createGrpcWebTransport({
  baseUrl: location.origin,
  interceptors: [limiter, retry, bearer],
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
  const details = err.details.filter(isRaw);
  return explain(err.code, err.rawMessage, errorReason(details), signingIn, violations(details));
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
