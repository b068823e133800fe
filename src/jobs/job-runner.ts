import { activeTraceparent } from '../telemetry/tracing.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { pause, type Clock } from '../clock.js';
import { newJob, skipPendingSteps, transition, type Job, type JobKind, type JobState, type JsonObject } from './job.js';
import { JobExecution, type ExecutionDependencies } from './job-execution.js';
import { jobNotFound, type CreateJobResult, type JobStore } from './job-store.js';
import { LeaseKeeper, type LeaseKeeperOptions } from './lease-keeper.js';
import { assertValidStepPolicy } from '../retry/retry-policy.js';
import type { JobRunnerEvents, StepDefinition, StepDefinitions } from './step-definition.js';

export type { JobRunnerEvents, JobTransitionEvent, StepContext, StepDefinition, StepDefinitions, StepFinishedEvent, StepOutcome } from './step-definition.js';

export interface JobRunnerOptions {
  store: JobStore;
  steps: StepDefinitions;
  clock: Clock;
  logger: Logger;
  /** Jobs running at once across all VMs. */
  concurrency: number;
  /** How long stop() lets running steps finish before aborting them. */
  stopGraceMs: number;
  /** Source of backoff jitter, in [0, 1). */
  random?: () => number;
  events?: JobRunnerEvents;
}

export interface SubmitJobRequest {
  kind: JobKind;
  subjectKey: string;
  /** Plain JSON with no secrets in it (name secret references instead); stored as given. */
  input: JsonObject;
  /** Same kind and key as an earlier job: that job is returned and nothing new is created. */
  idempotencyKey?: string;
}

/** After the store fails to hand out work, wait this long before asking again rather than spin. */
const DISPATCH_ERROR_BACKOFF_MS = 5_000;

/**
 * Runs jobs from a JobStore: at most `concurrency` at once, one at a time per subject (the store's
 * claim enforces that), oldest first. It never polls: it sleeps until the earliest retry is due
 * or until wake() — called on submit, operator actions and whenever a job lets go of its slot.
 * On a store shared by replicas (JobStore.leases) a LeaseKeeper also wakes it every renewal
 * interval, since other replicas create work it is not told about, and hands it the jobs of
 * replicas that died.
 */
export class JobRunner {
  private readonly store: JobStore;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly steps: StepDefinitions;
  private readonly concurrency: number;
  private readonly stopGraceMs: number;
  private readonly random: () => number;
  private readonly events: JobRunnerEvents;
  private readonly active = new Map<string, Promise<void>>();
  private recovered: Job[] = [];
  private loop: Promise<void> | null = null;
  private stopping = false;
  private wakeRequested = false;
  private wakeController: AbortController | null = null;
  private shutdown = new AbortController();
  private leaseKeeper: LeaseKeeper | null = null;

  constructor(options: JobRunnerOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new AppError('INVALID_CONFIG', 'Job concurrency must be a whole number of at least 1.', { details: { concurrency: options.concurrency } });
    }
    validateSteps(options.steps);
    this.store = options.store;
    this.clock = options.clock;
    this.logger = options.logger;
    this.steps = options.steps;
    this.concurrency = options.concurrency;
    this.stopGraceMs = Math.max(0, options.stopGraceMs);
    this.random = options.random ?? Math.random;
    this.events = options.events ?? {};
  }

  /** Jobs this runner is executing right now. */
  get activeCount(): number {
    return this.active.size;
  }

  get isStarted(): boolean {
    return this.loop !== null;
  }

  /** Resumes jobs a crash left running, then takes new work. */
  async start(): Promise<void> {
    if (this.loop) return;
    this.stopping = false;
    this.shutdown = new AbortController();
    this.recovered = await this.store.findRunning();
    if (this.recovered.length > 0) this.logger.info('Resuming jobs left running', { jobIds: this.recovered.map((job) => job.id) });
    this.leaseKeeper = this.store.leases === undefined ? null : new LeaseKeeper({ store: this.store, leases: this.store.leases, clock: this.clock, logger: this.logger, runner: this.leaseHolder() });
    this.loop = this.runLoop();
  }

  /**
   * Takes no new work, lets running steps finish for up to stopGraceMs, then aborts them. A job
   * whose step was cut short, or that had steps left, stays running and resumes at the next start.
   */
  async stop(): Promise<void> {
    if (!this.loop) return;
    this.stopping = true;
    this.wake();
    await this.loop;
    this.loop = null;
    const held = this.heldJobIds();
    await this.drain();
    await this.leaseKeeper?.stop(held);
    this.leaseKeeper = null;
    this.recovered = [];
  }

  /** Makes the runner look for work now (a job was created or became runnable). */
  wake(): void {
    this.wakeRequested = true;
    this.wakeController?.abort();
  }

  async submit(request: SubmitJobRequest): Promise<CreateJobResult> {
    const definitions = this.steps[request.kind];
    if (!definitions) throw new AppError('INVALID_REQUEST', `No steps are defined for jobs of kind ${request.kind}.`, { details: { kind: request.kind } });
    const job = newJob({ ...request, stepNames: definitions.map((step) => step.name), traceContext: activeTraceparent(), now: this.clock.now() });
    const result = await this.store.create(job);
    if (result.created) {
      this.logger.info('Job created', { jobId: job.id, kind: job.kind, subjectKey: job.subjectKey });
      this.wake();
    }
    return result;
  }

  /** Operator retry of a failed_temp job: its failed step starts over with fresh attempts and deadline. */
  async retry(jobId: string, reason = 'retried by operator'): Promise<Job> {
    return this.operate(jobId, 'pending', reason, (job) => ({
      ...job,
      lastError: null,
      steps: job.steps.map((step) => (step.state === 'failed' ? { ...step, state: 'pending', attempts: 0, startedAt: null, finishedAt: null } : step)),
    }));
  }

  /** Operator abandon of a failed_temp job: it becomes failed, and its later jobs on the same VM may run. */
  async abandon(jobId: string, reason = 'abandoned by operator'): Promise<Job> {
    return this.operate(jobId, 'failed', reason, skipPendingSteps);
  }

  private async operate(jobId: string, to: JobState, reason: string, patch: (job: Job) => Job): Promise<Job> {
    const job = await this.store.get(jobId);
    if (!job) throw jobNotFound(jobId);
    const logger = this.logger.child({ jobId, kind: job.kind, subjectKey: job.subjectKey });
    const saved = await this.store.save(patch(transition(job, to, reason, { now: this.clock.now(), logger })));
    this.emitTransition(saved, job.state, reason);
    this.wake();
    return saved;
  }

  private heldJobIds(): string[] {
    return [...this.active.keys(), ...this.recovered.map((job) => job.id)];
  }

  private leaseHolder(): LeaseKeeperOptions['runner'] {
    return {
      heldJobIds: () => this.heldJobIds(),
      lost: (jobIds) => (this.recovered = this.recovered.filter((job) => !jobIds.includes(job.id))),
      adopt: (jobs) => this.recovered.push(...jobs),
      wake: () => this.wake(),
    };
  }

  private async runLoop(): Promise<void> {
    while (!this.stopping) {
      this.wakeRequested = false;
      const cycleStart = this.clock.now();
      let backoffMs: number | null = null;
      try {
        await this.fillSlots();
      } catch (error) {
        this.logger.error('Job dispatch failed', { error });
        backoffMs = DISPATCH_ERROR_BACKOFF_MS;
      }
      await this.waitForWork(cycleStart, backoffMs);
    }
  }

  private async fillSlots(): Promise<void> {
    while (!this.stopping && this.active.size < this.concurrency) {
      const resumed = this.recovered.shift();
      if (resumed) {
        this.launch(resumed, true);
        continue;
      }
      let from: JobState = 'pending';
      const start = (job: Job): Job => {
        from = job.state;
        return this.startJob(job);
      };
      const claimed = await this.store.claimNext({ now: this.clock.now(), start });
      if (!claimed) return;
      this.emitTransition(claimed, from, claimed.stateReason);
      this.launch(claimed, false);
    }
  }

  private startJob(job: Job): Job {
    const reason = job.state === 'retry_wait' ? 'retry due' : 'claimed';
    const logger = this.logger.child({ jobId: job.id, kind: job.kind, subjectKey: job.subjectKey });
    return { ...transition(job, 'running', reason, { now: this.clock.now(), logger }), attempt: job.attempt + 1 };
  }

  private launch(job: Job, isResume: boolean): void {
    const execution = new JobExecution(job, this.steps[job.kind] ?? [], this.executionDependencies());
    const done = (isResume ? execution.resume() : execution.run())
      .catch((error: unknown) => {
        this.logger.error('Job execution stopped on a store error; it resumes at the next start', { jobId: job.id, error });
      })
      .finally(() => {
        this.active.delete(job.id);
        this.wake();
      });
    this.active.set(job.id, done);
  }

  /**
   * Sleeps until wake(), the next due retry, or (after a dispatch error) a fixed backoff. Retries
   * due at or before `cycleStart` were already offered to the claim; later ones set the alarm.
   */
  private async waitForWork(cycleStart: number, backoffMs: number | null): Promise<void> {
    const controller = new AbortController();
    this.wakeController = controller;
    try {
      if (this.wakeRequested || this.stopping) return;
      const retryAt = await this.store.earliestRetryAfter(cycleStart).catch((error: unknown) => {
        this.logger.error('Job store did not say when the next retry is due', { error });
        return this.clock.now() + DISPATCH_ERROR_BACKOFF_MS;
      });
      if (this.wakeRequested || this.stopping) return;
      const delays = [retryAt === null ? null : retryAt - this.clock.now(), backoffMs].filter((delay): delay is number => delay !== null);
      await (delays.length === 0 ? untilAborted(controller.signal) : pause(this.clock, Math.max(0, Math.min(...delays)), controller.signal));
    } finally {
      this.wakeController = null;
    }
  }

  private async drain(): Promise<void> {
    if (this.active.size === 0) return;
    const inFlight = Promise.all(this.active.values());
    const graceOver = new AbortController();
    const finished = await Promise.race([inFlight.then(() => true), pause(this.clock, this.stopGraceMs, graceOver.signal).then(() => false)]);
    graceOver.abort();
    if (finished) return;
    this.logger.warn('Aborting steps still running after the stop grace period', { jobIds: [...this.active.keys()], stopGraceMs: this.stopGraceMs });
    this.shutdown.abort(new AppError('STEP_TIMEOUT', 'The job runner is stopping.', { retryable: true }));
    await inFlight;
  }

  private executionDependencies(): ExecutionDependencies {
    return {
      store: this.store,
      clock: this.clock,
      logger: this.logger,
      random: this.random,
      shutdown: this.shutdown.signal,
      isStopping: () => this.stopping,
      observer: {
        transitioned: (job, from, reason) => this.emitTransition(job, from, reason),
        stepFinished: (event) => this.events.onStepFinished?.(event),
      },
    };
  }

  private emitTransition(job: Job, from: JobState, reason: string): void {
    try {
      this.events.onTransition?.({ job, from, to: job.state, reason });
    } catch (error) {
      this.logger.error('Job observer failed', { jobId: job.id, error });
    }
  }
}

function validateSteps(steps: StepDefinitions): void {
  for (const [kind, definitions] of Object.entries(steps) as Array<[JobKind, readonly StepDefinition[]]>) {
    const names = new Set<string>();
    for (const definition of definitions) {
      if (names.has(definition.name)) throw new AppError('INVALID_CONFIG', `Step ${definition.name} is defined twice for ${kind} jobs.`);
      names.add(definition.name);
      assertValidStepPolicy(definition.policy, definition.name);
    }
  }
}

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
