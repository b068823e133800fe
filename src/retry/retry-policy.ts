import { z } from 'zod';
import type { Clock } from '../clock.js';
import { durationSchema, durationToMs } from '../duration.js';
import { AppError, toAppError } from '../errors.js';
import { formatZodProblems } from '../validation.js';

/**
 * The one retry mechanism: job steps (durable, scheduled by the runner), SSH connects and webhook
 * deliveries (in-process loops) and the HTTP clients (whose errors carry `retryable` and the
 * server's `Retry-After`) all take their policy, backoff and give-up rules from here.
 *
 * How something is retried, after Temporal's RetryPolicy. Whether an error is retried at all is the
 * error's own `retryable` flag; this only says how often and how far apart.
 */
export interface RetryPolicy {
  /** Backoff before the first retry. */
  initialIntervalMs: number;
  /** Each further retry waits this many times longer, up to maximumIntervalMs. */
  backoffCoefficient: number;
  /** Cap on a single backoff. */
  maximumIntervalMs: number;
  /** Attempts in total, the first included; 0 means no limit (then a step deadline should bound it). */
  maximumAttempts: number;
}

/**
 * Unlike Temporal (unlimited attempts, 100× cap) the default gives up after five attempts within
 * about half a minute: a VM that still refuses SSH by then needs an operator, and failed_temp is
 * where an operator looks.
 */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  initialIntervalMs: 1_000,
  backoffCoefficient: 2,
  maximumIntervalMs: 60_000,
  maximumAttempts: 5,
});

/** Timeouts and retries of one step, each named by what it bounds. */
export interface StepPolicy {
  /** Bounds one attempt: when it passes, the attempt's signal aborts and the attempt fails with STEP_TIMEOUT (retryable). */
  attemptTimeoutMs: number;
  retry: RetryPolicy;
  /** Bounds the step's retries: no retry is scheduled to start later than first attempt start + deadlineMs. */
  deadlineMs?: number;
}

export function retryPolicy(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  return assertValidRetryPolicy({ ...DEFAULT_RETRY_POLICY, ...overrides });
}

/**
 * Backoff before the retry that follows `attempts` failed attempts (1 after the first failure),
 * with full jitter: uniformly random in [0, capped exponential). Jitter spreads the retries of
 * many jobs that failed together (one istiod restart fails every deliver at once).
 */
export function nextDelayMs(policy: RetryPolicy, attempts: number, random: () => number = Math.random): number {
  return Math.floor(random() * backoffMs(policy, attempts));
}

/** Capped exponential backoff without jitter, for loops whose waits tests and operators read exactly. */
export function backoffMs(policy: RetryPolicy, attempts: number): number {
  const exponent = Math.max(attempts, 1) - 1;
  return Math.min(policy.maximumIntervalMs, policy.initialIntervalMs * policy.backoffCoefficient ** exponent);
}

/** True when a step that has made `attempts` attempts may make another. */
export function hasAttemptsLeft(policy: RetryPolicy, attempts: number): boolean {
  return policy.maximumAttempts === 0 || attempts < policy.maximumAttempts;
}

const retryPolicyShape = z
  .object({
    initialIntervalMs: z.number().int().positive(),
    backoffCoefficient: z.number().min(1),
    maximumIntervalMs: z.number().int().positive(),
    maximumAttempts: z.number().int().min(0),
  })
  .refine((policy) => policy.maximumIntervalMs >= policy.initialIntervalMs, {
    message: 'maximumInterval must not be shorter than initialInterval',
    path: ['maximumIntervalMs'],
  });

const stepPolicyShape = z.object({
  attemptTimeoutMs: z.number().int().positive(),
  retry: retryPolicyShape,
  deadlineMs: z.number().int().positive().optional(),
});

/** Checks a policy built in code (step definitions); config goes through the schemas below. */
export function assertValidRetryPolicy(policy: RetryPolicy): RetryPolicy {
  const parsed = retryPolicyShape.safeParse(policy);
  if (!parsed.success) throw new AppError('INVALID_CONFIG', 'Retry policy is invalid.', { problems: formatZodProblems(parsed.error) });
  return policy;
}

export function assertValidStepPolicy(policy: StepPolicy, stepName: string): StepPolicy {
  const parsed = stepPolicyShape.safeParse(policy);
  if (!parsed.success) {
    throw new AppError('INVALID_CONFIG', `Policy of step ${stepName} is invalid.`, { problems: formatZodProblems(parsed.error) });
  }
  return policy;
}

/** A retry policy as written in config: durations as strings ('2s'), turned into milliseconds. */
export const retryPolicyConfigSchema = z
  .object({
    initialInterval: durationSchema.default('1s').describe('Backoff before the first retry.'),
    backoffCoefficient: z.number().min(1).default(2).describe('Each further retry waits this many times longer.'),
    maximumInterval: durationSchema.default('1m').describe('Cap on a single backoff.'),
    maximumAttempts: z.number().int().min(0).default(5).describe('Attempts in total, the first included; 0 means no limit.'),
  })
  .strict()
  .transform(
    (raw): RetryPolicy => ({
      initialIntervalMs: durationToMs(raw.initialInterval),
      backoffCoefficient: raw.backoffCoefficient,
      maximumIntervalMs: durationToMs(raw.maximumInterval),
      maximumAttempts: raw.maximumAttempts,
    }),
  )
  .refine((policy) => policy.maximumIntervalMs >= policy.initialIntervalMs, {
    message: 'maximumInterval must not be shorter than initialInterval',
    path: ['maximumInterval'],
  });

export const stepPolicyConfigSchema = z
  .object({
    attemptTimeout: durationSchema.describe('Bounds one attempt of the step.'),
    retry: retryPolicyConfigSchema.prefault({}),
    deadline: durationSchema.optional().describe('Bounds all attempts of the step together, backoff included.'),
  })
  .strict()
  .transform(
    (raw): StepPolicy => ({
      attemptTimeoutMs: durationToMs(raw.attemptTimeout),
      retry: raw.retry,
      ...(raw.deadline === undefined ? {} : { deadlineMs: durationToMs(raw.deadline) }),
    }),
  );

/** What a failed attempt tells the policy: how many attempts so far and what the server asked for. */
export interface RetryInput {
  attempts: number;
  /** From the error (`details.retryAfterMs`, see retryAfterOf) or the response; a floor under the backoff. */
  retryAfterMs?: number;
  nowMs: number;
  /** Absolute epoch milliseconds; no retry is scheduled to start later than this. */
  deadlineMs?: number;
  /** Full jitter (see nextDelayMs) when given; exact backoff when not. */
  random?: () => number;
}

export type RetryDecision = { retry: true; delayMs: number } | { retry: false; reason: 'attempts' | 'deadline' };

/**
 * Whether and when to make the next attempt after a retryable failure. Retry-After (RFC 9110
 * §10.2.3) is honoured as a minimum, as undici does: a server that names its recovery time knows
 * better than our backoff. A retry that would start past the deadline is not scheduled at all.
 */
export function decideRetry(policy: RetryPolicy, input: RetryInput): RetryDecision {
  if (!hasAttemptsLeft(policy, input.attempts)) return { retry: false, reason: 'attempts' };
  const backoff = input.random === undefined ? backoffMs(policy, input.attempts) : nextDelayMs(policy, input.attempts, input.random);
  const delayMs = Math.max(backoff, input.retryAfterMs ?? 0);
  if (input.deadlineMs !== undefined && input.nowMs + delayMs > input.deadlineMs) return { retry: false, reason: 'deadline' };
  return { retry: true, delayMs };
}

/** The `Retry-After` an HTTP adapter put on its error (milliseconds from the response), if any. */
export function retryAfterOf(error: AppError): number | undefined {
  const value = error.details.retryAfterMs;
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** The three HTTP-date forms (RFC 9110 §5.6.7): IMF-fixdate, RFC 850, asctime (which has no zone and means GMT). */
const HTTP_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? [\w -]+ \d{2}:\d{2}:\d{2}( GMT| \d{4})$/;

/** Retry-After is delay-seconds or an HTTP-date (RFC 9110 §10.2.3); anything else is ignored. */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // Date.parse alone is lenient ("-5" is a year), so only the HTTP-date forms reach it.
  const form = HTTP_DATE.exec(trimmed);
  if (form === null) return undefined;
  const at = Date.parse(form[2] === ' GMT' ? trimmed : `${trimmed} GMT`);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

export interface RetryUntilDeadlineOptions {
  /** Absolute epoch milliseconds; no attempt starts after it and none runs past it. */
  deadlineMs: number;
  attemptTimeoutMs: number;
  clock: Clock;
  /** `maximumAttempts` 0 lets the deadline alone end the retries. */
  policy: RetryPolicy;
  signal?: AbortSignal;
  /** The error to end with when `signal` aborts; the caller knows what an abort means to it. */
  abortError: (reason: unknown) => AppError;
  /** Called after every attempt: with its error when it failed, without when it succeeded. */
  onAttempt?: (attempt: number, error?: AppError) => void;
}

/**
 * Runs `attempt` until it succeeds, fails with a non-retryable error, uses up its attempts or the
 * deadline passes; the final error is the last attempt's, with the attempt count added to its
 * details. Each attempt gets the attempt timeout, cut short by the deadline. Unlike decideRetry's
 * schedule, the last wait is cut to the deadline rather than skipped: the caller (a VM still
 * booting) gets its whole deadline before the failure is reported.
 */
export async function retryUntilDeadline<T>(
  attempt: (attemptTimeoutMs: number, attemptNumber: number) => Promise<T>,
  options: RetryUntilDeadlineOptions,
): Promise<T> {
  for (let attemptNumber = 1; ; attemptNumber += 1) {
    throwIfAborted(options);
    const timeoutMs = Math.max(1, Math.min(options.attemptTimeoutMs, options.deadlineMs - options.clock.now()));
    let failure: AppError;
    try {
      const value = await attempt(timeoutMs, attemptNumber);
      options.onAttempt?.(attemptNumber);
      return value;
    } catch (error) {
      throwIfAborted(options);
      failure = toAppError(error);
    }
    options.onAttempt?.(attemptNumber, failure);
    await waitBeforeRetry(failure, attemptNumber, options);
  }
}

/** Throws when retrying is pointless (the error says so, attempts are used up, the deadline has passed); else waits. */
async function waitBeforeRetry(failure: AppError, attempts: number, options: RetryUntilDeadlineOptions): Promise<void> {
  if (!failure.retryable) throw failure;
  const remainingMs = options.deadlineMs - options.clock.now();
  if (remainingMs <= 0 || !hasAttemptsLeft(options.policy, attempts)) throw withAttempts(failure, attempts);
  const delayMs = Math.max(backoffMs(options.policy, attempts), retryAfterOf(failure) ?? 0);
  // A clock's sleep may end early or reject when the signal aborts; either way the next check reports the abort.
  await options.clock.sleep(Math.min(delayMs, remainingMs), options.signal).catch((error: unknown) => {
    throwIfAborted(options);
    throw error;
  });
  throwIfAborted(options);
  if (options.deadlineMs - options.clock.now() <= 0) throw withAttempts(failure, attempts);
}

function throwIfAborted(options: RetryUntilDeadlineOptions): void {
  if (options.signal?.aborted === true) throw options.abortError(options.signal.reason);
}

function withAttempts(failure: AppError, attempts: number): AppError {
  return new AppError(failure.code, failure.message, {
    retryable: failure.retryable,
    details: { ...failure.details, attempts },
    problems: failure.problems,
    cause: failure.cause,
  });
}
