import type pg from 'pg';
import { AppError } from '../errors.js';
import type { Job, JobState } from './job.js';
import {
  DEFAULT_LOG_TAIL_LINES,
  assertStarted,
  duplicateJob,
  filterStates,
  jobNotFound,
  listLimit,
  staleVersion,
  zeroCountsByState,
  type ClaimRequest,
  type CreateJobResult,
  type JobLeases,
  type JobListFilter,
  type JobLogLine,
  type JobStore,
} from './job-store.js';
import type { PostgresDatabase } from './postgres-database.js';

export interface PostgresJobStoreOptions {
  database: PostgresDatabase;
  /** Names this runner in the leases it holds; unique per process (host, pid, random part). */
  owner: string;
  /** The longest a dead runner's job waits before another runner takes it over. */
  leaseMs: number;
  logTailLines?: number;
}

/**
 * Renewals come four times per lease and a lease lasts three renewal intervals, so two renewals
 * can be missed (a slow database, a long GC pause) before a live runner loses a job, and a dead
 * runner's job is found by another runner's next look at most one interval after its lease ran out:
 * within `leaseMs` of the death in all.
 */
const RENEWALS_PER_LEASE = 4;
/** Below this, renewals (every quarter lease) would keep the database busy for nothing. */
const MIN_LEASE_MS = 1_000;

/**
 * Oldest claimable job; the NOT EXISTS clause is the per-subject order documented on JobStore.
 * SKIP LOCKED lets runners claim side by side: a row another runner is claiming is passed over, not
 * waited for. A job of the same subject that another runner is claiming right now is pending or
 * running in every snapshot, so it still holds its subject here.
 */
const CLAIM_SQL = `
  SELECT j.body, j.version FROM jobs AS j
  WHERE (j.state = 'pending' OR (j.state = 'retry_wait' AND j.next_attempt_at <= $1))
    AND NOT EXISTS (
      SELECT 1 FROM jobs AS o
      WHERE o.subject_key = j.subject_key AND o.id <> j.id
        AND (o.state = 'running' OR (o.seq < j.seq AND o.state IN ('pending', 'running', 'retry_wait', 'failed_temp'))))
  ORDER BY j.seq
  LIMIT 1
  FOR UPDATE OF j SKIP LOCKED`;

/** Running jobs with no live lease; taking one over bumps its version, which fences the old holder. */
const TAKE_OVER_SQL = `
  UPDATE jobs SET lease_owner = $1, lease_expires_at = clock_timestamp() + $2::float8 * interval '1 millisecond', version = version + 1
  WHERE id IN (
    SELECT id FROM jobs
    WHERE state = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < clock_timestamp())
    ORDER BY seq
    FOR UPDATE SKIP LOCKED)
  RETURNING seq, body, version`;

interface JobRow {
  body: Job;
  version: number;
}

/**
 * JobStore on PostgreSQL, for several replicas of the service on one database. Uniqueness (job id,
 * kind + idempotency key) is the database's constraints, not a read-then-write, so two replicas
 * receiving the same Tacker notification create one job. Claims are row-locked and leased (JobLeases).
 */
export class PostgresJobStore implements JobStore {
  readonly leases: JobLeases;
  private readonly database: PostgresDatabase;
  private readonly owner: string;
  private readonly leaseMs: number;
  private readonly logTailLines: number;

  constructor(options: PostgresJobStoreOptions) {
    if (!Number.isFinite(options.leaseMs) || options.leaseMs < MIN_LEASE_MS) {
      throw new AppError('INVALID_CONFIG', `store.lease must be at least ${MIN_LEASE_MS} ms: renewals come every quarter of it.`, { details: { leaseMs: options.leaseMs } });
    }
    this.database = options.database;
    this.owner = options.owner;
    this.leaseMs = options.leaseMs;
    this.logTailLines = options.logTailLines ?? DEFAULT_LOG_TAIL_LINES;
    this.leases = {
      renewIntervalMs: Math.floor(options.leaseMs / RENEWALS_PER_LEASE),
      renew: (jobIds) => this.renew(jobIds),
      release: (jobIds) => this.release(jobIds),
    };
  }

  /** What is written as the lease's length: three renewal intervals (see RENEWALS_PER_LEASE). */
  private get leaseLengthMs(): number {
    return this.leases.renewIntervalMs * (RENEWALS_PER_LEASE - 1);
  }

  async create(job: Job): Promise<CreateJobResult> {
    const inserted = await this.database.query<JobRow>(
      'create',
      `INSERT INTO jobs (id, kind, subject_key, state, idempotency_key, next_attempt_at, created_at, updated_at, version, body)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT DO NOTHING
       RETURNING body, version`,
      [job.id, job.kind, job.subjectKey, job.state, job.idempotencyKey, job.nextAttemptAt, job.createdAt, job.updatedAt, job.version, JSON.stringify(job)],
    );
    if (inserted.rowCount === 1) return { job: structuredClone(job), created: true };
    if (job.idempotencyKey !== null) {
      const existing = await this.database.query<JobRow>('create', 'SELECT body, version FROM jobs WHERE kind = $1 AND idempotency_key = $2', [job.kind, job.idempotencyKey]);
      const [row] = existing.rows;
      if (row !== undefined) return { job: toJob(row), created: false };
    }
    throw duplicateJob(job.id);
  }

  async get(jobId: string): Promise<Job | null> {
    const [row] = (await this.database.query<JobRow>('get', 'SELECT body, version FROM jobs WHERE id = $1', [jobId])).rows;
    return row === undefined ? null : toJob(row);
  }

  async list(filter: JobListFilter = {}): Promise<Job[]> {
    const { clause, params } = listConditions(filter);
    const sql = `SELECT body, version FROM jobs ${clause} ORDER BY seq DESC LIMIT $${params.length + 1}`;
    return (await this.database.query<JobRow>('list', sql, [...params, listLimit(filter)])).rows.map(toJob);
  }

  save(job: Job): Promise<Job> {
    return this.database.transaction('save', (client) => this.write(client, job));
  }

  claimNext(request: ClaimRequest): Promise<Job | null> {
    return this.database.transaction('claim', async (client) => {
      const [row] = (await client.query<JobRow>(CLAIM_SQL, [request.now])).rows;
      if (row === undefined) return null;
      const claimed = toJob(row);
      return this.write(client, assertStarted(claimed, request.start(claimed)));
    });
  }

  async findRunning(): Promise<Job[]> {
    const result = await this.database.query<JobRow & { seq: string }>('findRunning', TAKE_OVER_SQL, [this.owner, this.leaseLengthMs]);
    return result.rows.sort((a, b) => Number(BigInt(a.seq) - BigInt(b.seq))).map(toJob);
  }

  async earliestRetryAfter(after: number): Promise<number | null> {
    const sql = "SELECT MIN(next_attempt_at) AS at FROM jobs WHERE state = 'retry_wait' AND next_attempt_at > $1";
    const [row] = (await this.database.query<{ at: string | null }>('earliestRetryAfter', sql, [after])).rows;
    return row?.at === null || row?.at === undefined ? null : Number(row.at);
  }

  appendLog(jobId: string, lines: readonly JobLogLine[]): Promise<void> {
    return this.database.transaction('appendLog', async (client) => {
      if ((await client.query('SELECT 1 FROM jobs WHERE id = $1', [jobId])).rowCount === 0) throw jobNotFound(jobId);
      await client.query('INSERT INTO job_log (job_id, at, line) SELECT $1, at, line FROM unnest($2::bigint[], $3::text[]) AS added (at, line)', [
        jobId,
        lines.map((line) => line.at),
        // PostgreSQL text cannot hold NUL, which a remote command may print.
        lines.map((line) => line.line.replaceAll('\u0000', '\uFFFD')),
      ]);
      // Deletes everything at or below the newest line that falls outside the tail.
      await client.query('DELETE FROM job_log WHERE job_id = $1 AND seq <= (SELECT seq FROM job_log WHERE job_id = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)', [jobId, this.logTailLines]);
    });
  }

  async readLog(jobId: string): Promise<JobLogLine[]> {
    if ((await this.database.query('readLog', 'SELECT 1 FROM jobs WHERE id = $1', [jobId])).rowCount === 0) throw jobNotFound(jobId);
    const result = await this.database.query<{ at: string; line: string }>('readLog', 'SELECT at, line FROM job_log WHERE job_id = $1 ORDER BY seq', [jobId]);
    return result.rows.map(({ at, line }) => ({ at: Number(at), line }));
  }

  async countByState(): Promise<Record<JobState, number>> {
    const counts = zeroCountsByState();
    const result = await this.database.query<{ state: JobState; count: string }>('countByState', 'SELECT state, COUNT(*) AS count FROM jobs GROUP BY state');
    for (const row of result.rows) counts[row.state] = Number(row.count);
    return counts;
  }

  /** The database belongs to whoever opened it (it also serves the orchestrator's inbox); it is closed there. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  private async renew(jobIds: readonly string[]): Promise<string[]> {
    if (jobIds.length === 0) return [];
    const result = await this.database.query<{ id: string }>(
      'renewLeases',
      `UPDATE jobs SET lease_expires_at = clock_timestamp() + $3::float8 * interval '1 millisecond'
       WHERE id = ANY($2::text[]) AND lease_owner = $1 AND state = 'running'
       RETURNING id`,
      [this.owner, [...jobIds], this.leaseLengthMs],
    );
    const held = new Set(result.rows.map((row) => row.id));
    return jobIds.filter((id) => !held.has(id));
  }

  private async release(jobIds: readonly string[]): Promise<void> {
    if (jobIds.length === 0) return;
    await this.database.query(
      'releaseLeases',
      `UPDATE jobs SET lease_expires_at = clock_timestamp() - interval '1 millisecond'
       WHERE id = ANY($2::text[]) AND lease_owner = $1 AND state = 'running'`,
      [this.owner, [...jobIds]],
    );
  }

  /** A running job keeps (or, when just claimed, gets) this runner's lease; any other state lets go of it. */
  private async write(client: pg.PoolClient, job: Job): Promise<Job> {
    const saved: Job = { ...job, version: job.version + 1 };
    const isRunning = saved.state === 'running';
    const result = await client.query(
      `UPDATE jobs SET state = $3, next_attempt_at = $4, updated_at = $5, version = $6, body = $7,
         lease_owner = CASE WHEN $8::boolean THEN COALESCE(lease_owner, $9) END,
         lease_expires_at = CASE WHEN $8::boolean THEN COALESCE(lease_expires_at, clock_timestamp() + $10::float8 * interval '1 millisecond') END
       WHERE id = $1 AND version = $2`,
      [job.id, job.version, saved.state, saved.nextAttemptAt, saved.updatedAt, saved.version, JSON.stringify(saved), isRunning, this.owner, this.leaseLengthMs],
    );
    if (result.rowCount === 1) return saved;
    const [stored] = (await client.query<{ version: number }>('SELECT version FROM jobs WHERE id = $1', [job.id])).rows;
    throw stored === undefined ? jobNotFound(job.id) : staleVersion(job, stored.version);
  }
}

function listConditions(filter: JobListFilter): { clause: string; params: unknown[] } {
  const conditions: string[] = [];
  const params: unknown[] = [];
  const states = filterStates(filter);
  if (states !== undefined) {
    params.push([...states]);
    conditions.push(`state = ANY($${params.length}::text[])`);
  }
  if (filter.kind !== undefined) {
    params.push(filter.kind);
    conditions.push(`kind = $${params.length}`);
  }
  if (filter.subjectKey !== undefined) {
    params.push(filter.subjectKey);
    conditions.push(`subject_key = $${params.length}`);
  }
  return { clause: conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`, params };
}

function toJob(row: JobRow): Job {
  return { ...structuredClone(row.body), version: row.version };
}
