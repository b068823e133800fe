import { z } from 'zod';
import { durationSchema, durationToMs } from '../duration.js';
import { AppError } from '../errors.js';
import { formatZodProblems } from '../validation.js';

/**
 * How a step is retried, after Temporal's RetryPolicy. Whether an error is retried at all is the
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
  const exponent = Math.max(attempts, 1) - 1;
  const ceiling = Math.min(policy.maximumIntervalMs, policy.initialIntervalMs * policy.backoffCoefficient ** exponent);
  return Math.floor(random() * ceiling);
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
