// Trying a call again when the server asks to (RESOURCE_EXHAUSTED with google.rpc.RetryInfo: the caller's fair
// share of the database pool is taken, or its rate is spent; docs/access.md "Fair share"). Kept apart from the
// transport so that `npm test` checks it without a server.

/** Tries after the first: a few, since the server's delay is when a slot is likely free, not certain to be;
 *  more would leave a person looking at a spinner when the server is overloaded for real. */
export const MAX_RETRIES = 3;
/** A delay the server gives beyond this is not waited out: the error is shown at once instead. */
export const MAX_WAIT_MS = 10_000;
/** When a refusal carries no RetryInfo (a proxy's, say), this long. */
export const DEFAULT_WAIT_MS = 500;

export interface RetryOptions {
  sleep?: (ms: number) => Promise<void>;
  /** In [0, 1): the share of the delay added on top, so that calls refused together do not return together. */
  random?: () => number;
  maxRetries?: number;
}

/** Runs `call`; when it fails with an error `delayOf` calls retryable (a number of milliseconds, or null
 *  when it is not), waits that long (plus up to a fifth, at random) and runs it again, at most `maxRetries`
 *  times. The last failure is thrown as it came. */
export async function withRetries<T>(
  call: () => Promise<T>,
  delayOf: (e: unknown) => number | null,
  { sleep = (ms) => new Promise((r) => setTimeout(r, ms)), random = Math.random, maxRetries = MAX_RETRIES }: RetryOptions = {},
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      const delay = delayOf(e);
      if (delay === null || attempt >= maxRetries || delay > MAX_WAIT_MS) throw e;
      await sleep(Math.round(delay * (1 + random() / 5)));
    }
  }
}
