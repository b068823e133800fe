import { randomUUID } from 'node:crypto';
import { AppError, toAppError, type ErrorCode } from '../errors.js';
import { redactText, type Logger } from '../log.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/**
 * inject and remove act on one VM; lcm-event turns one Tacker notification into inject and remove
 * jobs; notification announces a failed job; deploy and teardown run the orchestrator for one service.
 */
export const JOB_KINDS = ['inject', 'remove', 'lcm-event', 'notification', 'deploy', 'teardown'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export const JOB_STATES = ['pending', 'running', 'retry_wait', 'succeeded', 'failed_temp', 'failed'] as const;
/**
 * - pending: waiting for a runner slot (new, or put back by an operator retry)
 * - running: a runner owns it; after a crash it stays here until the next start resumes it
 * - retry_wait: a step failed with a retryable error; runs again at `nextAttemptAt`
 * - succeeded, failed: final
 * - failed_temp: retries ran out; waits for an operator to retry or abandon it (Tacker's FAILED_TEMP)
 */
export type JobState = (typeof JOB_STATES)[number];

export const STEP_STATES = ['pending', 'running', 'succeeded', 'failed', 'skipped'] as const;
export type StepState = (typeof STEP_STATES)[number];

/** What is kept of an error: enough for an operator and for metrics, never a stack or a cause chain. */
export interface JobError {
  code: ErrorCode;
  message: string;
  retryable: boolean;
}

/** Times are epoch milliseconds from the injected clock. */
export interface JobStep {
  name: string;
  state: StepState;
  /** Attempts started, including one interrupted by a crash; an operator retry resets it to 0. */
  attempts: number;
  /** Start of the first attempt; a step's deadline counts from here. */
  startedAt: number | null;
  /** End of the last attempt that finished (succeeded or failed). */
  finishedAt: number | null;
  /** Time spent inside attempts, summed; backoff waits are not included. */
  durationMs: number;
  lastError: JobError | null;
  /** Small JSON the step returned (fingerprints, a result line); later steps read it. */
  output: JsonValue | null;
}

/**
 * One unit of work on one VM. `input` is JSON the caller provides; like the whole record it must
 * never hold a secret: callers put secret references in it, and steps resolve them when they run.
 * The log tail lives beside the job in the store (see JobStore.appendLog), not in this record.
 */
export interface Job {
  id: string;
  kind: JobKind;
  /** Serialization key (Nova server id or VM address): one job at a time per subject. */
  subjectKey: string;
  input: JsonObject;
  steps: JobStep[];
  state: JobState;
  /** Why the job entered its current state, for operators ("retries exhausted in step deliver"). */
  stateReason: string;
  /** How many times a runner started or resumed the job. */
  attempt: number;
  /** When a job in retry_wait becomes runnable again; null in every other state. */
  nextAttemptAt: number | null;
  lastError: JobError | null;
  createdAt: number;
  updatedAt: number;
  /** Set when the job reaches succeeded or failed. */
  finishedAt: number | null;
  idempotencyKey: string | null;
  /** Optimistic concurrency: a save must carry the version it read; the store increments it. */
  version: number;
  /**
   * The W3C traceparent active when the job was submitted: each run continues that trace, also after
   * a restart. Absent on jobs stored before tracing existed and when tracing is off.
   */
  traceContext?: string | null;
}

/**
 * The legal moves. A job never leaves succeeded or failed; only an operator moves failed_temp
 * (retry → pending, abandon → failed); running → running is not a transition (resume after a crash
 * keeps the state).
 */
const LEGAL_TRANSITIONS: Readonly<Record<JobState, readonly JobState[]>> = {
  pending: ['running'],
  running: ['retry_wait', 'succeeded', 'failed_temp', 'failed'],
  retry_wait: ['running'],
  failed_temp: ['pending', 'failed'],
  succeeded: [],
  failed: [],
};

export function isLegalTransition(from: JobState, to: JobState): boolean {
  return LEGAL_TRANSITIONS[from].includes(to);
}

export function isFinalState(state: JobState): boolean {
  return state === 'succeeded' || state === 'failed';
}

export interface TransitionContext {
  now: number;
  logger?: Logger;
}

/**
 * The only way a job changes state: checks the move against the table, stamps the time, logs it,
 * and returns the changed copy (the caller saves it). Illegal moves throw CONFLICT, which is what
 * an operator sees when, say, retrying a job that already succeeded.
 */
export function transition(job: Job, to: JobState, reason: string, context: TransitionContext): Job {
  if (!isLegalTransition(job.state, to)) {
    throw new AppError('CONFLICT', `Job ${job.id} cannot move from ${job.state} to ${to}.`, {
      details: { jobId: job.id, from: job.state, to },
    });
  }
  context.logger?.info('Job state changed', { jobId: job.id, kind: job.kind, subjectKey: job.subjectKey, from: job.state, to, reason });
  return {
    ...job,
    state: to,
    stateReason: reason,
    updatedAt: context.now,
    nextAttemptAt: to === 'retry_wait' ? job.nextAttemptAt : null,
    finishedAt: isFinalState(to) ? context.now : job.finishedAt,
  };
}

export interface NewJobRequest {
  kind: JobKind;
  subjectKey: string;
  input: JsonObject;
  stepNames: readonly string[];
  idempotencyKey?: string | null;
  traceContext?: string | null;
  now: number;
}

export function newJob(request: NewJobRequest): Job {
  return {
    id: randomUUID(),
    kind: request.kind,
    subjectKey: request.subjectKey,
    input: structuredClone(request.input),
    steps: request.stepNames.map(newStep),
    state: 'pending',
    stateReason: 'created',
    attempt: 0,
    nextAttemptAt: null,
    lastError: null,
    createdAt: request.now,
    updatedAt: request.now,
    finishedAt: null,
    idempotencyKey: request.idempotencyKey ?? null,
    version: 1,
    ...(request.traceContext === undefined || request.traceContext === null ? {} : { traceContext: request.traceContext }),
  };
}

function newStep(name: string): JobStep {
  return { name, state: 'pending', attempts: 0, startedAt: null, finishedAt: null, durationMs: 0, lastError: null, output: null };
}

/** Returns a copy of the job with one step changed. */
export function updateStep(job: Job, index: number, patch: Partial<JobStep>): Job {
  return { ...job, steps: job.steps.map((step, at) => (at === index ? { ...step, ...patch } : step)) };
}

/** Marks every step that never ran as skipped, so a final job shows no pending work. */
export function skipPendingSteps(job: Job): Job {
  return { ...job, steps: job.steps.map((step) => (step.state === 'pending' ? { ...step, state: 'skipped' } : step)) };
}

/** The first step still to do, or -1 when every step has succeeded or was skipped. */
export function nextStepIndex(job: Job): number {
  return job.steps.findIndex((step) => step.state !== 'succeeded' && step.state !== 'skipped');
}

/** Outputs of the steps that succeeded, by step name: what a later step may read. */
export function stepOutputs(job: Job): Record<string, JsonValue> {
  const outputs: Record<string, JsonValue> = {};
  for (const step of job.steps) {
    if (step.state === 'succeeded' && step.output !== null) outputs[step.name] = step.output;
  }
  return outputs;
}

/** Keeps code and retryability as the error declared them; the message is redacted before it is stored. */
export function toJobError(error: unknown): JobError {
  const appError = toAppError(error);
  return { code: appError.code, message: redactText(appError.message), retryable: appError.retryable };
}
