/**
 * Time as a port: the runner reads the time and waits only through this, so tests drive
 * backoff and timeouts with a manual clock instead of real sleeps.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * Resolves after `ms`, or as soon as `signal` aborts. Never rejects: callers that care
   * whether the wait was cut short look at `signal.aborted`.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** setTimeout's largest delay; longer sleeps return early and callers re-check the time. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) {
        resolve();
        return;
      }
      const finish = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', finish);
        resolve();
      };
      const timer = setTimeout(finish, Math.min(Math.max(ms, 0), MAX_TIMER_MS));
      signal?.addEventListener('abort', finish, { once: true });
    }),
};

/**
 * Sleeps through any clock, including one whose sleep rejects on abort as node:timers/promises
 * does: an aborted wait is a normal way for the runner's waits to end, never an error.
 */
export function pause(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return clock.sleep(ms, signal).catch(() => undefined);
}
