import { AppError } from '../errors.js';
import { JOB_STATES, type Job, type JobKind, type JobState } from './job.js';

export interface CreateJobResult {
  job: Job;
  /** False when a job with the same kind and idempotency key already existed; `job` is that job. */
  created: boolean;
}

export interface JobListFilter {
  state?: JobState | readonly JobState[];
  kind?: JobKind;
  subjectKey?: string;
  /** Defaults to DEFAULT_LIST_LIMIT, capped at MAX_LIST_LIMIT. */
  limit?: number;
}

export interface ClaimRequest {
  now: number;
  /**
   * Turns the chosen job into its running form (the runner's transition, which checks and logs).
   * Called inside the store's atomic section, so it must be synchronous and must not touch the store.
   */
  start(job: Job): Job;
}

export interface JobLogLine {
  /** Epoch milliseconds. */
  at: number;
  line: string;
}

/**
 * Leases on running jobs, offered by a store that several runners (replicas) share. A claimed job
 * is leased to the claiming runner; the lease lasts while the runner renews it and runs out when the
 * runner dies, and then findRunning() hands the job to another runner. Taking a job over increments
 * its version, so a runner that lost its lease (paused, cut off) fails its next save with CONFLICT
 * instead of writing over the new holder.
 */
export interface JobLeases {
  /** How often a runner renews its leases and looks for work that other runners created or left behind. */
  readonly renewIntervalMs: number;
  /** Extends the caller's leases on these jobs; returns the ids among them that it no longer holds. */
  renew(jobIds: readonly string[]): Promise<string[]>;
  /** Ends the caller's leases on these jobs now (a clean stop), so another runner takes them over at its next look. */
  release(jobIds: readonly string[]): Promise<void>;
}

/**
 * Durable jobs. Claims are atomic. A store without `leases` serves one runner: a job left `running`
 * is taken to be orphaned by a crash when the runner starts. A store with `leases` may be shared by
 * several runners (see JobLeases).
 *
 * Per-subject order: a job is claimable only while no older job of its subject is unfinished
 * (pending, running, retry_wait or failed_temp). So jobs of one VM run one at a time and in the
 * order they were created: a remove never runs in the backoff gap of an earlier inject (which
 * would then register the VM again), and a failed_temp job holds its VM until an operator retries
 * or abandons it, as Tacker's FAILED_TEMP holds a VNF.
 */
export interface JobStore {
  /** Inserts the job, unless one with the same kind and idempotency key exists: then returns that one. A reused id is a CONFLICT. */
  create(job: Job): Promise<CreateJobResult>;
  get(jobId: string): Promise<Job | null>;
  /** Newest first. */
  list(filter?: JobListFilter): Promise<Job[]>;
  /** Writes the job if `job.version` is the stored version (else CONFLICT); returns it with the next version. */
  save(job: Job): Promise<Job>;
  /**
   * Atomically picks the oldest claimable job (pending, or retry_wait with nextAttemptAt <= now;
   * per-subject order above), applies `start` and saves the result. Null when nothing is claimable.
   */
  claimNext(request: ClaimRequest): Promise<Job | null>;
  /** How many jobs are in each state, every state present (0 when none): exact at any store size, one aggregate query. */
  countByState(): Promise<Record<JobState, number>>;
  /**
   * Jobs left running by a runner that is gone, oldest first: the work to resume. Without leases,
   * every running job (called once, when the only runner starts); with leases, the running jobs
   * whose lease ran out (or that never had one), now leased to the caller.
   */
  findRunning(): Promise<Job[]>;
  /** The earliest nextAttemptAt later than `after` among jobs in retry_wait: when to wake up. */
  earliestRetryAfter(after: number): Promise<number | null>;
  /** Appends to the job's log, keeping only its newest lines (the store's tail bound). */
  appendLog(jobId: string, lines: readonly JobLogLine[]): Promise<void>;
  /** The log tail, oldest line first. */
  readLog(jobId: string): Promise<JobLogLine[]>;
  /** Present when several runners may share the store. */
  readonly leases?: JobLeases;
  close(): Promise<void>;
}

export const DEFAULT_LOG_TAIL_LINES = 500;

/** Every state at 0: the starting point of countByState, so a state with no job still reports. */
export function zeroCountsByState(): Record<JobState, number> {
  return Object.fromEntries(JOB_STATES.map((state) => [state, 0])) as Record<JobState, number>;
}
export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1_000;

export function listLimit(filter: JobListFilter): number {
  return Math.min(Math.max(filter.limit ?? DEFAULT_LIST_LIMIT, 1), MAX_LIST_LIMIT);
}

export function filterStates(filter: JobListFilter): readonly JobState[] | undefined {
  if (filter.state === undefined) return undefined;
  return typeof filter.state === 'string' ? [filter.state] : filter.state;
}

/** Unfinished states hold a subject against newer jobs (see JobStore). */
export const SUBJECT_HOLDING_STATES: readonly JobState[] = ['pending', 'running', 'retry_wait', 'failed_temp'];

/** Guards the store against a `start` callback that returned something other than the claimed job, running. */
export function assertStarted(claimed: Job, started: Job): Job {
  if (started.id !== claimed.id || started.state !== 'running' || started.version !== claimed.version) {
    throw new AppError('INTERNAL', 'Claim callback must return the claimed job in state running.', { details: { jobId: claimed.id } });
  }
  return started;
}

export function jobNotFound(jobId: string): AppError {
  return new AppError('NOT_FOUND', `Job ${jobId} does not exist.`, { details: { jobId } });
}

export function duplicateJob(jobId: string): AppError {
  return new AppError('CONFLICT', `Job ${jobId} already exists.`, { details: { jobId } });
}

export function staleVersion(job: Pick<Job, 'id' | 'version'>, storedVersion: number): AppError {
  return new AppError('CONFLICT', `Job ${job.id} was changed by someone else (version ${job.version}, stored ${storedVersion}).`, {
    details: { jobId: job.id, version: job.version, storedVersion },
  });
}
