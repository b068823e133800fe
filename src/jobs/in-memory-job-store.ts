import type { Job, JobState } from './job.js';
import {
  DEFAULT_LOG_TAIL_LINES,
  SUBJECT_HOLDING_STATES,
  assertStarted,
  duplicateJob,
  filterStates,
  jobNotFound,
  listLimit,
  staleVersion,
  zeroCountsByState,
  type ClaimRequest,
  type CreateJobResult,
  type JobListFilter,
  type JobLogLine,
  type JobStore,
} from './job-store.js';

interface Entry {
  /** Creation order: "oldest" means the lowest sequence, never a timestamp (clocks tie). */
  seq: number;
  job: Job;
  log: JobLogLine[];
}

export interface InMemoryJobStoreOptions {
  logTailLines?: number;
}

/**
 * The JobStore contract without durability, for unit tests of code that uses jobs. Everything
 * handed in or out is copied, so callers cannot change stored state behind the store's back.
 */
export class InMemoryJobStore implements JobStore {
  private readonly entries = new Map<string, Entry>();
  private readonly logTailLines: number;
  private seq = 0;

  constructor(options: InMemoryJobStoreOptions = {}) {
    this.logTailLines = options.logTailLines ?? DEFAULT_LOG_TAIL_LINES;
  }

  create(job: Job): Promise<CreateJobResult> {
    if (this.entries.has(job.id)) return Promise.reject(duplicateJob(job.id));
    const existing = job.idempotencyKey === null ? undefined : this.ordered().find((entry) => isSameRequest(entry.job, job));
    if (existing) return Promise.resolve({ job: structuredClone(existing.job), created: false });
    this.entries.set(job.id, { seq: ++this.seq, job: structuredClone(job), log: [] });
    return Promise.resolve({ job: structuredClone(job), created: true });
  }

  get(jobId: string): Promise<Job | null> {
    const entry = this.entries.get(jobId);
    return Promise.resolve(entry ? structuredClone(entry.job) : null);
  }

  list(filter: JobListFilter = {}): Promise<Job[]> {
    const states = filterStates(filter);
    const matches = this.ordered()
      .reverse()
      .filter(({ job }) => (states === undefined || states.includes(job.state)) && (filter.kind === undefined || job.kind === filter.kind))
      .filter(({ job }) => filter.subjectKey === undefined || job.subjectKey === filter.subjectKey);
    return Promise.resolve(matches.slice(0, listLimit(filter)).map(({ job }) => structuredClone(job)));
  }

  save(job: Job): Promise<Job> {
    return settle(() => structuredClone(this.write(job)));
  }

  claimNext(request: ClaimRequest): Promise<Job | null> {
    return settle(() => {
      const candidate = this.ordered().find((entry) => this.isClaimable(entry, request.now));
      if (!candidate) return null;
      const claimed = structuredClone(candidate.job);
      return structuredClone(this.write(assertStarted(claimed, request.start(claimed))));
    });
  }

  countByState(): Promise<Record<JobState, number>> {
    const counts = zeroCountsByState();
    for (const { job } of this.entries.values()) counts[job.state] += 1;
    return Promise.resolve(counts);
  }

  findRunning(): Promise<Job[]> {
    return Promise.resolve(
      this.ordered()
        .filter(({ job }) => job.state === 'running')
        .map(({ job }) => structuredClone(job)),
    );
  }

  earliestRetryAfter(after: number): Promise<number | null> {
    let earliest: number | null = null;
    for (const { job } of this.entries.values()) {
      const at = job.state === 'retry_wait' ? job.nextAttemptAt : null;
      if (at !== null && at > after && (earliest === null || at < earliest)) earliest = at;
    }
    return Promise.resolve(earliest);
  }

  appendLog(jobId: string, lines: readonly JobLogLine[]): Promise<void> {
    const entry = this.entries.get(jobId);
    if (!entry) return Promise.reject(jobNotFound(jobId));
    entry.log.push(...lines.map((line) => ({ ...line })));
    if (entry.log.length > this.logTailLines) entry.log.splice(0, entry.log.length - this.logTailLines);
    return Promise.resolve();
  }

  readLog(jobId: string): Promise<JobLogLine[]> {
    const entry = this.entries.get(jobId);
    if (!entry) return Promise.reject(jobNotFound(jobId));
    return Promise.resolve(entry.log.map((line) => ({ ...line })));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private write(job: Job): Job {
    const entry = this.entries.get(job.id);
    if (!entry) throw jobNotFound(job.id);
    if (entry.job.version !== job.version) throw staleVersion(job, entry.job.version);
    entry.job = structuredClone({ ...job, version: job.version + 1 });
    return entry.job;
  }

  private ordered(): Entry[] {
    return [...this.entries.values()].sort((a, b) => a.seq - b.seq);
  }

  private isClaimable(entry: Entry, now: number): boolean {
    const { job } = entry;
    const isDue = job.state === 'pending' || (job.state === 'retry_wait' && job.nextAttemptAt !== null && job.nextAttemptAt <= now);
    if (!isDue) return false;
    return ![...this.entries.values()].some(
      (other) =>
        other.job.subjectKey === job.subjectKey &&
        other !== entry &&
        (other.job.state === 'running' || (other.seq < entry.seq && SUBJECT_HOLDING_STATES.includes(other.job.state))),
    );
  }
}

/** Runs synchronous work as a promise that rejects with whatever it throws. */
function settle<T>(work: () => T): Promise<T> {
  return new Promise((resolve) => resolve(work()));
}

function isSameRequest(stored: Job, incoming: Job): boolean {
  return stored.kind === incoming.kind && stored.idempotencyKey === incoming.idempotencyKey;
}
