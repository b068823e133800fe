import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { AppError, isAppError } from '../errors.js';
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
  type JobListFilter,
  type JobLogLine,
  type JobStore,
} from './job-store.js';

export interface SqliteJobStoreOptions {
  /** Database file, or ':memory:'. */
  path: string;
  /** Lines of log kept per job. */
  logTailLines?: number;
  /** How long a write waits for another connection's lock before failing. */
  busyTimeoutMs?: number;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

/**
 * Each entry moves the schema one version up; entries are never edited once released, so a
 * database written by any earlier release opens and migrates in place.
 * The full job is kept as JSON in `body`; the columns beside it exist to be queried and are
 * written from the same object in the same statement.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE jobs (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     kind TEXT NOT NULL,
     subject_key TEXT NOT NULL,
     state TEXT NOT NULL,
     idempotency_key TEXT,
     next_attempt_at INTEGER,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     version INTEGER NOT NULL,
     body TEXT NOT NULL
   ) STRICT;
   CREATE UNIQUE INDEX jobs_idempotency ON jobs (kind, idempotency_key) WHERE idempotency_key IS NOT NULL;
   CREATE INDEX jobs_state ON jobs (state, seq);
   CREATE INDEX jobs_subject ON jobs (subject_key, seq);
   CREATE TABLE job_log (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
     at INTEGER NOT NULL,
     line TEXT NOT NULL
   ) STRICT;
   CREATE INDEX job_log_job ON job_log (job_id, seq);`,
  // The API and the engine list by kind (and state), newest first: without these, a kind filter
  // walks every job of the state, or every job, before the LIMIT applies.
  `CREATE INDEX jobs_kind_state ON jobs (kind, state, seq);
   CREATE INDEX jobs_kind ON jobs (kind, seq);
   CREATE INDEX jobs_subject_kind ON jobs (subject_key, kind, seq);`,
];

/** Oldest claimable job; the NOT EXISTS clause is the per-subject order documented on JobStore. */
const CLAIM_SQL = `
  SELECT body, version FROM jobs AS j
  WHERE (j.state = 'pending' OR (j.state = 'retry_wait' AND j.next_attempt_at <= :now))
    AND NOT EXISTS (
      SELECT 1 FROM jobs AS o
      WHERE o.subject_key = j.subject_key AND o.id <> j.id
        AND (o.state = 'running' OR (o.seq < j.seq AND o.state IN ('pending', 'running', 'retry_wait', 'failed_temp'))))
  ORDER BY j.seq
  LIMIT 1`;

interface JobRow {
  body: string;
  version: number;
}

interface PendingWrite {
  operation: string;
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type WriteOutcome = { value: unknown } | { error: AppError };

/**
 * JobStore on Node's built-in SQLite. Every operation is one short synchronous transaction, so a
 * job's state is on disk before the promise resolves, and nothing else runs in between; creates,
 * saves and log appends are committed in groups instead (see create()), still before they resolve.
 */
export class SqliteJobStore implements JobStore {
  private readonly statements = new Map<string, StatementSync>();
  private readonly pendingWrites: PendingWrite[] = [];

  private constructor(
    private readonly db: DatabaseSync,
    private readonly logTailLines: number,
  ) {}

  static open(options: SqliteJobStoreOptions): SqliteJobStore {
    const db = guard('open', () => new DatabaseSync(options.path));
    try {
      configure(db, options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
      migrate(db);
    } catch (error) {
      db.close();
      throw error;
    }
    return new SqliteJobStore(db, options.logTailLines ?? DEFAULT_LOG_TAIL_LINES);
  }

  /** The journal mode SQLite reports: 'wal' for files, 'memory' for ':memory:'. */
  journalMode(): string {
    const row = this.statement('PRAGMA journal_mode').get() as { journal_mode: string };
    return row.journal_mode;
  }

  /** How long a write waits for another connection's lock, as SQLite reports it. */
  busyTimeoutMs(): number {
    const row = this.statement('PRAGMA busy_timeout').get() as { timeout: number };
    return row.timeout;
  }

  schemaVersion(): number {
    return currentSchemaVersion(this.db);
  }

  /**
   * Group commit: creates arriving in the same turn of the event loop (concurrent notifications
   * and submissions) share one transaction and so one fsync. Each promise still resolves only
   * after its row is committed, and a failing create (a reused id) is rolled back alone.
   */
  create(job: Job): Promise<CreateJobResult> {
    // The row is serialised now, which is the snapshot: a deep copy of the job as well would cost
    // more than the insert itself on the notification path.
    const row = insertColumns(job);
    return this.enqueueWrite('create', () => this.insertUnlessPresent(row));
  }

  private enqueueWrite<T>(operation: string, work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pendingWrites.push({ operation, work, resolve: resolve as (value: unknown) => void, reject });
      if (this.pendingWrites.length === 1) setImmediate(() => this.commitPendingWrites());
    });
  }

  private commitPendingWrites(): void {
    const batch = this.pendingWrites.splice(0);
    if (batch.length === 0) return;
    let outcomes: WriteOutcome[];
    try {
      outcomes = guard(batch[0]?.operation ?? 'write', () => this.inTransaction(() => batch.map((entry) => this.inSavepoint(entry))));
    } catch (error) {
      for (const entry of batch) entry.reject(error);
      return;
    }
    batch.forEach((entry, index) => {
      const outcome = outcomes[index];
      if (outcome !== undefined && 'value' in outcome) entry.resolve(outcome.value);
      else entry.reject(outcome?.error);
    });
  }

  private inSavepoint(entry: PendingWrite): WriteOutcome {
    this.db.exec('SAVEPOINT grouped_write');
    try {
      const value = entry.work();
      this.db.exec('RELEASE grouped_write');
      return { value };
    } catch (error) {
      this.db.exec('ROLLBACK TO grouped_write');
      this.db.exec('RELEASE grouped_write');
      return { error: storeError(entry.operation, error) };
    }
  }

  private insertUnlessPresent(row: InsertColumns): CreateJobResult {
    const existing = row.idempotencyKey === null ? undefined : this.row('SELECT body, version FROM jobs WHERE kind = ? AND idempotency_key = ?', [row.kind, row.idempotencyKey]);
    if (existing) return { job: toJob(existing), created: false };
    if (this.exists(row.id)) throw duplicateJob(row.id);
    this.statement(
      `INSERT INTO jobs (id, kind, subject_key, state, idempotency_key, next_attempt_at, created_at, updated_at, version, body)
       VALUES (:id, :kind, :subjectKey, :state, :idempotencyKey, :nextAttemptAt, :createdAt, :updatedAt, :version, :body)`,
    ).run(row);
    return { job: toJob({ body: row.body, version: row.version }), created: true };
  }

  get(jobId: string): Promise<Job | null> {
    return run('get', () => {
      const row = this.row('SELECT body, version FROM jobs WHERE id = ?', [jobId]);
      return row ? toJob(row) : null;
    });
  }

  list(filter: JobListFilter = {}): Promise<Job[]> {
    return run('list', () => {
      const { clause, params } = listConditions(filter);
      const rows = this.statement(`SELECT body, version FROM jobs ${clause} ORDER BY seq DESC LIMIT ?`).all(...params, listLimit(filter));
      return (rows as unknown as JobRow[]).map(toJob);
    });
  }

  /** Committed with the other writes of the same turn (see create()): concurrent jobs share fsyncs. */
  save(job: Job): Promise<Job> {
    // Serialised now, as in create(): the row is the snapshot, and the job handed back shares the
    // caller's objects (the runner never mutates a job, it replaces it).
    const update = updateOf(job);
    return this.enqueueWrite('save', () => this.update(update));
  }

  claimNext(request: ClaimRequest): Promise<Job | null> {
    return run('claim', () =>
      this.inTransaction(() => {
        const row = this.statement(CLAIM_SQL).get({ now: request.now }) as JobRow | undefined;
        if (!row) return null;
        const claimed = toJob(row);
        return this.write(assertStarted(claimed, request.start(claimed)));
      }),
    );
  }

  countByState(): Promise<Record<JobState, number>> {
    return run('countByState', () => {
      // Answered from the jobs_state index alone (a covering scan), never from the job bodies.
      const rows = this.statement('SELECT state, COUNT(*) AS count FROM jobs GROUP BY state').all() as unknown as Array<{ state: JobState; count: number }>;
      const counts = zeroCountsByState();
      for (const row of rows) counts[row.state] = row.count;
      return counts;
    });
  }

  findRunning(): Promise<Job[]> {
    return run('findRunning', () => {
      const rows = this.statement("SELECT body, version FROM jobs WHERE state = 'running' ORDER BY seq").all();
      return (rows as unknown as JobRow[]).map(toJob);
    });
  }

  earliestRetryAfter(after: number): Promise<number | null> {
    return run('earliestRetryAfter', () => {
      const sql = "SELECT MIN(next_attempt_at) AS at FROM jobs WHERE state = 'retry_wait' AND next_attempt_at > ?";
      const row = this.statement(sql).get(after) as { at: number | null };
      return row.at;
    });
  }

  /**
   * Committed with the other writes of the same turn (see create()): 50 installs streaming their
   * output would otherwise cost one fsync per chunk of output each.
   */
  appendLog(jobId: string, lines: readonly JobLogLine[]): Promise<void> {
    const copy = lines.map(({ at, line }) => ({ at, line }));
    return this.enqueueWrite('appendLog', () => this.insertLogLines(jobId, copy));
  }

  private insertLogLines(jobId: string, lines: readonly JobLogLine[]): void {
    if (!this.exists(jobId)) throw jobNotFound(jobId);
    const insert = this.statement('INSERT INTO job_log (job_id, at, line) VALUES (?, ?, ?)');
    for (const line of lines) insert.run(jobId, line.at, line.line);
    // Deletes everything at or below the newest line that falls outside the tail.
    this.statement(
      'DELETE FROM job_log WHERE job_id = :jobId AND seq <= (SELECT seq FROM job_log WHERE job_id = :jobId ORDER BY seq DESC LIMIT 1 OFFSET :keep)',
    ).run({ jobId, keep: this.logTailLines });
  }

  readLog(jobId: string): Promise<JobLogLine[]> {
    return run('readLog', () => {
      if (!this.exists(jobId)) throw jobNotFound(jobId);
      const rows = this.statement('SELECT at, line FROM job_log WHERE job_id = ? ORDER BY seq').all(jobId);
      return (rows as unknown as JobLogLine[]).map(({ at, line }) => ({ at, line }));
    });
  }

  close(): Promise<void> {
    // Writes already accepted are committed, not dropped, by a close in the same turn.
    if (this.db.isOpen) this.commitPendingWrites();
    return run('close', () => {
      if (this.db.isOpen) this.db.close();
    });
  }

  private write(job: Job): Job {
    return this.update(updateOf(job));
  }

  private update({ job, saved, row }: JobUpdate): Job {
    const result = this.statement(
      `UPDATE jobs SET state = :state, next_attempt_at = :nextAttemptAt, updated_at = :updatedAt, version = :version, body = :body
       WHERE id = :id AND version = :expectedVersion`,
    ).run(row);
    if (result.changes === 1) return saved;
    const stored = this.row('SELECT body, version FROM jobs WHERE id = ?', [job.id]);
    throw stored ? staleVersion(job, stored.version) : jobNotFound(job.id);
  }

  /** Statements are compiled once per connection; the SQL strings are fixed or drawn from a few filter shapes. */
  private statement(sql: string): StatementSync {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private exists(jobId: string): boolean {
    return this.statement('SELECT 1 FROM jobs WHERE id = ?').get(jobId) !== undefined;
  }

  private row(sql: string, params: SQLInputValue[]): JobRow | undefined {
    return this.statement(sql).get(...params) as JobRow | undefined;
  }

  /** IMMEDIATE takes the write lock up front, so a read-then-write never races another writer. */
  private inTransaction<T>(work: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw error;
    }
  }
}

function listConditions(filter: JobListFilter): { clause: string; params: SQLInputValue[] } {
  const conditions: Array<[string, SQLInputValue[]]> = [];
  const states = filterStates(filter);
  // An empty state list matches nothing, as it does in the in-memory store.
  if (states !== undefined) conditions.push([states.length === 0 ? '0' : `state IN (${states.map(() => '?').join(', ')})`, [...states]]);
  if (filter.kind !== undefined) conditions.push(['kind = ?', [filter.kind]]);
  if (filter.subjectKey !== undefined) conditions.push(['subject_key = ?', [filter.subjectKey]]);
  if (conditions.length === 0) return { clause: '', params: [] };
  return { clause: `WHERE ${conditions.map(([sql]) => sql).join(' AND ')}`, params: conditions.flatMap(([, params]) => params) };
}

function columns(job: Job): Record<string, SQLInputValue> {
  return { ...stateColumns(job), body: JSON.stringify(job) };
}

function stateColumns(job: Job): Record<string, SQLInputValue> {
  return { id: job.id, state: job.state, nextAttemptAt: job.nextAttemptAt, updatedAt: job.updatedAt, version: job.version };
}

interface JobUpdate {
  job: Pick<Job, 'id' | 'version'>;
  saved: Job;
  row: Record<string, SQLInputValue>;
}

function updateOf(job: Job): JobUpdate {
  const saved: Job = { ...job, version: job.version + 1 };
  return { job: { id: job.id, version: job.version }, saved, row: { ...columns(saved), expectedVersion: job.version } };
}

interface InsertColumns extends Record<string, SQLInputValue> {
  id: string;
  kind: string;
  subjectKey: string;
  idempotencyKey: string | null;
  createdAt: number;
  version: number;
  body: string;
}

function insertColumns(job: Job): InsertColumns {
  return { ...stateColumns(job), id: job.id, kind: job.kind, subjectKey: job.subjectKey, idempotencyKey: job.idempotencyKey, createdAt: job.createdAt, version: job.version, body: JSON.stringify(job) };
}

function toJob(row: JobRow): Job {
  return { ...(JSON.parse(row.body) as Job), version: row.version };
}

function configure(db: DatabaseSync, busyTimeoutMs: number): void {
  // WAL lets readers (API, CLI status) run while the runner writes. FULL makes every commit
  // durable against power loss too, which is the point of saving after each step; jobs write
  // rarely enough that the fsync costs nothing that matters.
  db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = FULL');
  db.exec('PRAGMA foreign_keys = ON');
}

function currentSchemaVersion(db: DatabaseSync): number {
  const row = db.prepare('SELECT MAX(version) AS version FROM schema_version').get() as { version: number | null };
  return row.version ?? 0;
}

function migrate(db: DatabaseSync): void {
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const current = currentSchemaVersion(db);
    if (current > MIGRATIONS.length) {
      throw new AppError('INTERNAL', `Job database has schema version ${current}, newer than this release knows (${MIGRATIONS.length}).`, {
        details: { schemaVersion: current },
      });
    }
    MIGRATIONS.slice(current).forEach((sql, index) => {
      db.exec(sql);
      db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(current + index + 1);
    });
    db.exec('COMMIT');
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}

/** Converts SQLite's errors at the adapter's edge; busy and locked databases are worth a retry. */
function storeError(operation: string, error: unknown): AppError {
  if (isAppError(error)) return error;
  const primaryCode = Number((error as { errcode?: unknown }).errcode) & 0xff;
  return new AppError('INTERNAL', `Job store operation ${operation} failed.`, {
    cause: error,
    retryable: primaryCode === SQLITE_BUSY || primaryCode === SQLITE_LOCKED,
    details: { operation, sqliteCode: (error as { errstr?: unknown }).errstr ?? null },
  });
}

function guard<T>(operation: string, work: () => T): T {
  try {
    return work();
  } catch (error) {
    throw storeError(operation, error);
  }
}

const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;

/** Runs one synchronous store operation as a promise that rejects with the converted error. */
function run<T>(operation: string, work: () => T): Promise<T> {
  return new Promise((resolve) => resolve(guard(operation, work)));
}
