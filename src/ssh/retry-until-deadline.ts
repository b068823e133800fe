import { AppError, toAppError } from '../errors.js';
import type { Clock } from '../clock.js';

/** Capped exponential backoff between attempts; the deadline, not a count, ends the retries. */
export interface BackoffPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  multiplier: number;
}

/** A booting VM opens sshd within seconds to a minute; a 5 s cap keeps the extra wait after it opens short. */
export const defaultConnectBackoff: BackoffPolicy = { initialDelayMs: 500, maxDelayMs: 5_000, multiplier: 2 };

export interface RetryUntilDeadlineOptions {
  /** Absolute epoch milliseconds; no attempt starts after it and none runs past it. */
  deadlineMs: number;
  attemptTimeoutMs: number;
  clock: Clock;
  backoff: BackoffPolicy;
  signal?: AbortSignal;
  /** Called after every attempt: with its error when it failed, without when it succeeded. */
  onAttempt?: (attempt: number, error?: AppError) => void;
}

/** The wait after the given number of consecutive failures (1 = after the first). */
export function backoffDelayMs(policy: BackoffPolicy, failures: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** Math.max(0, failures - 1));
}

/**
 * Runs `attempt` until it succeeds, fails with a non-retryable error, or the deadline passes; the
 * final error is the last attempt's, with the attempt count added to its details. Each attempt gets
 * the attempt timeout, cut short by the deadline.
 */
export async function retryUntilDeadline<T>(
  attempt: (attemptTimeoutMs: number, attemptNumber: number) => Promise<T>,
  options: RetryUntilDeadlineOptions,
): Promise<T> {
  for (let attemptNumber = 1; ; attemptNumber += 1) {
    throwIfAborted(options.signal);
    const timeoutMs = Math.max(1, Math.min(options.attemptTimeoutMs, options.deadlineMs - options.clock.now()));
    let failure: AppError;
    try {
      const value = await attempt(timeoutMs, attemptNumber);
      options.onAttempt?.(attemptNumber);
      return value;
    } catch (error) {
      throwIfAborted(options.signal);
      failure = toAppError(error);
    }
    options.onAttempt?.(attemptNumber, failure);
    await waitBeforeRetry(failure, attemptNumber, options);
  }
}

/** Throws when retrying is pointless (the error says so, or the deadline has passed); else waits the backoff. */
async function waitBeforeRetry(failure: AppError, attempts: number, options: RetryUntilDeadlineOptions): Promise<void> {
  if (!failure.retryable) throw failure;
  const remainingMs = options.deadlineMs - options.clock.now();
  if (remainingMs <= 0) throw withAttempts(failure, attempts);
  // A clock's sleep may end early or reject when the signal aborts; either way the next check reports the abort.
  await options.clock.sleep(Math.min(backoffDelayMs(options.backoff, attempts), remainingMs), options.signal).catch((error: unknown) => {
    throwIfAborted(options.signal);
    throw error;
  });
  throwIfAborted(options.signal);
  if (options.deadlineMs - options.clock.now() <= 0) throw withAttempts(failure, attempts);
}

function withAttempts(failure: AppError, attempts: number): AppError {
  return new AppError(failure.code, failure.message, {
    retryable: failure.retryable,
    details: { ...failure.details, attempts },
    problems: failure.problems,
    cause: failure.cause,
  });
}

/** A step timeout (AbortSignal.timeout) reads as STEP_TIMEOUT; any other abort as a cancelled connect. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted !== true) return;
  const reason: unknown = signal.reason;
  if (reason instanceof AppError) throw reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    throw new AppError('STEP_TIMEOUT', 'The step ran out of time while connecting.', { retryable: true, cause: reason });
  }
  throw new AppError('SSH_CONNECT_FAILED', 'Connecting was cancelled.', { details: { cancelled: true }, cause: reason });
}
