import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import type { Job, JobError, JobKind, JobState, JsonValue } from './job.js';
import type { StepPolicy } from '../retry/retry-policy.js';

/** What a step sees while it runs. */
export interface StepContext {
  /** The job as saved before this attempt (read-only snapshot). */
  readonly job: Job;
  readonly stepName: string;
  /** 1 on the first attempt of this step. */
  readonly attempt: number;
  /** Outputs of the steps that already succeeded, by step name. */
  readonly outputs: Readonly<Record<string, JsonValue>>;
  /** Carries jobId, kind, subjectKey and step. */
  readonly logger: Logger;
  /**
   * Adds lines to the job's log tail (what `vmsi status` shows), redacted first. Multi-line text is
   * split into lines. Writes are queued; the runner flushes them before it saves the step's result.
   */
  appendLog(text: string): void;
  /** Aborts when the attempt times out (reason: STEP_TIMEOUT) or the runner stops past its grace period. */
  readonly signal: AbortSignal;
  readonly clock: Clock;
}

/**
 * One idempotent step: it may run again after a crash or a retry, even after it did its work, so
 * it must converge rather than assume a clean slate.
 */
export interface StepDefinition {
  readonly name: string;
  readonly policy: StepPolicy;
  /** Throw an AppError whose `retryable` says whether trying again can help. Return small JSON, or nothing. */
  run(context: StepContext): Promise<JsonValue | void>;
}

/** Steps per job kind, in order. */
export type StepDefinitions = Readonly<Partial<Record<JobKind, readonly StepDefinition[]>>>;

export interface JobTransitionEvent {
  /** The job as saved in its new state. */
  job: Job;
  from: JobState;
  to: JobState;
  reason: string;
}

/** succeeded: the step is done; retrying: the attempt failed and a retry is scheduled; failed: the step gave up. */
export type StepOutcome = 'succeeded' | 'retrying' | 'failed';

export interface StepFinishedEvent {
  /** The job as saved after the attempt. */
  job: Job;
  stepName: string;
  attempt: number;
  outcome: StepOutcome;
  /** This attempt's duration. */
  durationMs: number;
  error: JobError | null;
}

/**
 * Observers (metrics, notifications). Called after the change is saved; an observer that throws
 * is logged and ignored, so it can never stall a job.
 */
export interface JobRunnerEvents {
  onTransition?(event: JobTransitionEvent): void;
  onStepFinished?(event: StepFinishedEvent): void;
}
