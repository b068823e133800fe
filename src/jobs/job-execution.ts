import { inSpan, markFailed } from '../telemetry/tracing.js';
import { AppError } from '../errors.js';
import { redactText, type Logger } from '../log.js';
import { systemClock, type Clock } from '../clock.js';
import {
  nextStepIndex,
  skipPendingSteps,
  stepOutputs,
  toJobError,
  transition,
  updateStep,
  type Job,
  type JobError,
  type JobState,
  type JsonValue,
} from './job.js';
import type { JobLogLine, JobStore } from './job-store.js';
import { decideRetry, retryAfterOf, type StepPolicy } from '../retry/retry-policy.js';
import { runAttempt } from './step-attempt.js';
import type { StepContext, StepDefinition, StepFinishedEvent } from './step-definition.js';

/** Longest line kept in a job's log; longer lines are cut, since the tail is for people to read. */
export const MAX_LOG_LINE_CHARS = 4_000;
/**
 * How long log lines gather before they are written. Each write is a durable commit (an fsync on
 * SQLite); an install streams its output in hundreds of small chunks, so without this pause a
 * fleet of installs spends much of the service's time committing log lines one chunk at a time.
 */
export const LOG_GATHER_MS = 250;

export interface ExecutionObserver {
  transitioned(job: Job, from: JobState, reason: string): void;
  stepFinished(event: StepFinishedEvent): void;
}

export interface ExecutionDependencies {
  store: JobStore;
  clock: Clock;
  logger: Logger;
  random: () => number;
  observer: ExecutionObserver;
  /** Aborted when the runner's stop grace period runs out. */
  shutdown: AbortSignal;
  isStopping(): boolean;
}

type StepResult = 'succeeded' | 'stopped';

/**
 * Runs the remaining steps of one claimed (running) job, saving after every attempt. It returns
 * when the job succeeds, fails, waits for a retry, or the runner stops; in the last case the job
 * stays running in the store and is resumed at the next start.
 */
export class JobExecution {
  private job: Job;
  private readonly log: JobLogWriter;
  private readonly logger: Logger;

  constructor(
    job: Job,
    private readonly definitions: readonly StepDefinition[],
    private readonly deps: ExecutionDependencies,
  ) {
    this.job = job;
    this.logger = deps.logger.child({ jobId: job.id, kind: job.kind, subjectKey: job.subjectKey });
    this.log = new JobLogWriter(job.id, deps, this.logger);
  }

  /** For a job found running at start: counts the resumption, then carries on from the unfinished step. */
  async resume(): Promise<void> {
    this.logger.info('Job resumed after restart', { step: this.job.steps[nextStepIndex(this.job)]?.name ?? null });
    await this.save({ ...this.job, attempt: this.job.attempt + 1, stateReason: 'resumed after restart', updatedAt: this.deps.clock.now() });
    await this.run();
  }

  /** One span per run, in the trace the job was submitted in (stored on the record, so it survives restarts). */
  async run(): Promise<void> {
    const attributes = { 'vmsi.job.id': this.job.id, 'vmsi.job.kind': this.job.kind, 'vmsi.job.attempt': this.job.attempt };
    await inSpan(`job ${this.job.kind}`, { parent: this.job.traceContext ?? null, attributes }, async (span) => {
      await this.runSteps();
      span.setAttribute('vmsi.job.state', this.job.state);
    });
  }

  private async runSteps(): Promise<void> {
    for (let index = nextStepIndex(this.job); index !== -1; index = nextStepIndex(this.job)) {
      if (this.deps.isStopping()) return;
      const result = await this.runStep(index);
      if (result === 'stopped') return;
    }
    await this.moveTo('succeeded', 'all steps succeeded', (job) => job);
  }

  private async runStep(index: number): Promise<StepResult> {
    const step = this.job.steps[index];
    const definition = this.definitions.find((candidate) => candidate.name === step?.name);
    if (!step || !definition) {
      const error = new AppError('INTERNAL', `Job ${this.job.id} has a step ${step?.name ?? index} this runner does not define.`);
      await this.failStep(index, { error, attempt: step?.attempts ?? 0, durationMs: 0 });
      return 'stopped';
    }
    const attempt = step.attempts + 1;
    const startedAt = this.deps.clock.now();
    await this.save(updateStep(this.job, index, { state: 'running', attempts: attempt, startedAt: step.startedAt ?? startedAt }));
    this.log.append(`step ${step.name}: attempt ${attempt} started`);
    const result = await inSpan(`step ${step.name}`, { attributes: { 'vmsi.step.name': step.name, 'vmsi.step.attempt': attempt } }, async (span) => {
      const outcome = await runAttempt({ definition, context: this.stepContext(step.name, attempt), timeoutMs: definition.policy.attemptTimeoutMs, shutdown: this.deps.shutdown });
      span.setAttribute('vmsi.step.outcome', outcome.kind);
      if (outcome.kind === 'failed') markFailed(span, outcome.error);
      return outcome;
    });
    await this.log.flush();
    if (result.kind === 'interrupted') return 'stopped';
    const durationMs = this.deps.clock.now() - startedAt;
    if (result.kind === 'succeeded') return this.completeStep(index, { output: result.output, attempt, durationMs });
    await this.failStep(index, { error: result.error, attempt, durationMs, policy: definition.policy });
    return 'stopped';
  }

  private stepContext(stepName: string, attempt: number): Omit<StepContext, 'signal'> {
    return {
      job: structuredClone(this.job),
      stepName,
      attempt,
      outputs: stepOutputs(this.job),
      logger: this.logger.child({ step: stepName }),
      appendLog: (text: string) => this.log.append(text),
      clock: this.deps.clock,
    };
  }

  private async completeStep(index: number, done: { output: JsonValue | null; attempt: number; durationMs: number }): Promise<StepResult> {
    const step = this.stepAt(index);
    await this.save(
      updateStep(this.job, index, {
        state: 'succeeded',
        output: done.output,
        finishedAt: this.deps.clock.now(),
        durationMs: step.durationMs + done.durationMs,
      }),
    );
    this.log.append(`step ${step.name}: succeeded in ${done.durationMs} ms`);
    await this.log.flush();
    this.emitStep({ stepName: step.name, attempt: done.attempt, outcome: 'succeeded', durationMs: done.durationMs, error: null });
    return 'succeeded';
  }

  /** Decides between retry_wait, failed_temp and failed, from the error and the step's policy. */
  private async failStep(index: number, failure: StepFailure): Promise<void> {
    const step = this.stepAt(index);
    const error = toJobError(failure.error);
    const retryAt = this.retryAt(step.startedAt ?? this.deps.clock.now(), failure);
    this.logger.warn('Step attempt failed', { step: step.name, attempt: failure.attempt, error: failure.error, cause: failure.error.cause, retryAt });
    const [to, reason] = failureTarget(step.name, error, retryAt);
    this.log.append(`step ${step.name}: attempt ${failure.attempt} failed (${error.code}): ${error.message}; ${reason}`);
    await this.log.flush();
    await this.moveTo(to, reason, (moved) => {
      const failed = updateStep({ ...moved, lastError: error, nextAttemptAt: retryAt }, index, {
        state: retryAt === null ? 'failed' : 'pending',
        lastError: error,
        finishedAt: this.deps.clock.now(),
        durationMs: step.durationMs + failure.durationMs,
      });
      return to === 'failed' ? skipPendingSteps(failed) : failed;
    });
    const outcome = retryAt === null ? 'failed' : 'retrying';
    this.emitStep({ stepName: step.name, attempt: failure.attempt, outcome, durationMs: failure.durationMs, error });
  }

  /** When to retry, or null when the error is final, attempts are used up, or the retry would start past the deadline. */
  private retryAt(firstStartedAt: number, failure: StepFailure): number | null {
    const { policy } = failure;
    if (!failure.error.retryable || !policy) return null;
    const nowMs = this.deps.clock.now();
    const retryAfterMs = retryAfterOf(failure.error);
    const decision = decideRetry(policy.retry, {
      attempts: failure.attempt,
      nowMs,
      random: this.deps.random,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      ...(policy.deadlineMs === undefined ? {} : { deadlineMs: firstStartedAt + policy.deadlineMs }),
    });
    return decision.retry ? nowMs + decision.delayMs : null;
  }

  private async moveTo(to: JobState, reason: string, patch: (moved: Job) => Job): Promise<void> {
    const from = this.job.state;
    const moved = transition(this.job, to, reason, { now: this.deps.clock.now(), logger: this.logger });
    await this.save(patch(moved));
    notify(this.logger, () => this.deps.observer.transitioned(this.job, from, reason));
  }

  private emitStep(event: Omit<StepFinishedEvent, 'job'>): void {
    notify(this.logger, () => this.deps.observer.stepFinished({ job: this.job, ...event }));
  }

  private async save(job: Job): Promise<void> {
    this.job = await this.deps.store.save({ ...job, updatedAt: this.deps.clock.now() });
  }

  private stepAt(index: number): Job['steps'][number] {
    const step = this.job.steps[index];
    if (!step) throw new AppError('INTERNAL', `Job ${this.job.id} has no step ${index}.`);
    return step;
  }
}

interface StepFailure {
  error: AppError;
  attempt: number;
  durationMs: number;
  /** Absent when the step has no definition: nothing to retry with. */
  policy?: StepPolicy;
}

function failureTarget(stepName: string, error: JobError, retryAt: number | null): [JobState, string] {
  if (retryAt !== null) return ['retry_wait', `step ${stepName} failed; retry scheduled`];
  if (error.retryable) return ['failed_temp', `step ${stepName} failed; retries exhausted`];
  return ['failed', `step ${stepName} failed; error is not retryable`];
}

/** Observers must never break a job: their errors are logged here and go no further. */
function notify(logger: Logger, call: () => void): void {
  try {
    call();
  } catch (error) {
    logger.error('Job observer failed', { error });
  }
}

/**
 * Queues log lines so steps can log without awaiting; the runner flushes before saving a step's
 * result, so the tail is complete whenever the state says the step finished. A failing log write
 * is reported once and dropped: losing a log line must not fail the VM's injection.
 */
class JobLogWriter {
  private pending: Promise<void> = Promise.resolve();
  private buffered: JobLogLine[] = [];
  private isWriting = false;
  private isFlushing = false;
  private gathering: AbortController | null = null;

  constructor(
    private readonly jobId: string,
    private readonly deps: Pick<ExecutionDependencies, 'store' | 'clock'>,
    private readonly logger: Logger,
  ) {}

  append(text: string): void {
    const at = this.deps.clock.now();
    const lines = redactText(text)
      .split(/\r?\n/)
      .filter((line) => line.length > 0)
      .map((line) => ({ at, line: line.length > MAX_LOG_LINE_CHARS ? `${line.slice(0, MAX_LOG_LINE_CHARS)}…` : line }));
    if (lines.length === 0) return;
    this.buffered.push(...lines);
    // One write in flight per job, after a short gathering pause: lines that arrive meanwhile go
    // out together, so a chatty install costs a few commits a second instead of one per chunk.
    if (this.isWriting) return;
    this.isWriting = true;
    this.pending = this.writeBuffered();
  }

  private async writeBuffered(): Promise<void> {
    while (this.buffered.length > 0) {
      await this.gather();
      const lines = this.buffered;
      this.buffered = [];
      await this.deps.store.appendLog(this.jobId, lines).catch((error: unknown) => {
        this.logger.warn('Job log lines were dropped', { error, lines: lines.length });
      });
    }
    this.isWriting = false;
  }

  private async gather(): Promise<void> {
    if (this.isFlushing) return;
    this.gathering = new AbortController();
    // Real time, not the job clock: like the store's group commit this only batches I/O, and
    // flush() cuts it short wherever the job's order depends on the lines being written.
    await systemClock.sleep(LOG_GATHER_MS, this.gathering.signal);
    this.gathering = null;
  }

  /** Writes what is buffered now, skipping the gathering pause. */
  async flush(): Promise<void> {
    this.isFlushing = true;
    this.gathering?.abort();
    try {
      await this.pending;
    } finally {
      this.isFlushing = false;
    }
  }
}
