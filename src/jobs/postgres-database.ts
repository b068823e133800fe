import pg from 'pg';
import { AppError, isAppError } from '../errors.js';

export interface PostgresConnectionSettings {
  /** libpq-style URL without a password (postgresql://user@host:5432/db?sslmode=verify-full). */
  url: string;
  password?: string;
  poolSize: number;
  connectTimeoutMs: number;
  /** Bounds every statement on the server, so a stuck query cannot hold a lease-renewing connection forever. */
  statementTimeoutMs: number;
  /** Shown in pg_stat_activity, so an operator sees which replica holds which connection. */
  applicationName: string;
}

/**
 * Each entry moves the schema one version up; entries are never edited once released, so a
 * database written by any earlier release migrates in place. One history for the whole service:
 * jobs, their logs and the orchestrator's inbox share the database and its upgrades.
 * Bodies are JSON, not JSONB: JSONB refuses the \u0000 escape, which a remote command's output
 * may carry into a job's step output, and JSON keeps the text as the store wrote it.
 * Times the job model owns are epoch milliseconds (BIGINT) as in the SQLite store; lease times are
 * the database's own clock (timestamptz), so replicas with skewed clocks still agree on expiry.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE jobs (
     seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     id TEXT NOT NULL UNIQUE,
     kind TEXT NOT NULL,
     subject_key TEXT NOT NULL,
     state TEXT NOT NULL,
     idempotency_key TEXT,
     next_attempt_at BIGINT,
     created_at BIGINT NOT NULL,
     updated_at BIGINT NOT NULL,
     version INTEGER NOT NULL,
     lease_owner TEXT,
     lease_expires_at TIMESTAMPTZ,
     body JSON NOT NULL
   );
   CREATE UNIQUE INDEX jobs_idempotency ON jobs (kind, idempotency_key) WHERE idempotency_key IS NOT NULL;
   CREATE INDEX jobs_state ON jobs (state, seq);
   CREATE INDEX jobs_subject ON jobs (subject_key, seq);
   CREATE INDEX jobs_kind ON jobs (kind, seq);
   CREATE INDEX jobs_lease ON jobs (lease_expires_at) WHERE state = 'running';
   CREATE TABLE job_log (
     seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
     at BIGINT NOT NULL,
     line TEXT NOT NULL
   );
   CREATE INDEX job_log_job ON job_log (job_id, seq);
   CREATE TABLE injection_events (
     seq BIGINT GENERATED ALWAYS AS IDENTITY,
     source TEXT NOT NULL,
     id TEXT NOT NULL,
     subject TEXT NOT NULL,
     time BIGINT NOT NULL,
     body JSON NOT NULL,
     PRIMARY KEY (source, id)
   );
   CREATE INDEX injection_events_subject ON injection_events (subject, time DESC, seq DESC);`,
  `CREATE TABLE operation_events (
     seq BIGINT GENERATED ALWAYS AS IDENTITY,
     vnf_lcm_op_occ_id TEXT NOT NULL,
     operation_state TEXT NOT NULL,
     time BIGINT NOT NULL,
     received_at BIGINT NOT NULL,
     body JSON NOT NULL,
     PRIMARY KEY (vnf_lcm_op_occ_id, operation_state)
   );
   CREATE INDEX operation_events_received ON operation_events (received_at);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Advisory lock keys (pg_advisory_lock's 64-bit key space, shared by every application of the
 * database): fixed, chosen once, far from small numbers other tools tend to pick.
 */
export const ADVISORY_LOCKS = {
  migration: 0x766d_7369_0001n,
  certificateRenewal: 0x766d_7369_0002n,
} as const;

export type AdvisoryLock = keyof typeof ADVISORY_LOCKS;

/** PostgreSQL error classes that mean "the server or the link is away", worth trying again later. */
const RETRYABLE_SQLSTATE_CLASSES = ['08', '53', '57', '40'];
const RETRYABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOENT']);

/** Converts the pg client's errors at the adapter's edge; the message never carries the URL or SQL parameters. */
export function storeError(operation: string, error: unknown): AppError {
  if (isAppError(error)) return error;
  const code = typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : '';
  const isSqlState = /^[0-9A-Z]{5}$/.test(code);
  const retryable = (isSqlState && RETRYABLE_SQLSTATE_CLASSES.includes(code.slice(0, 2))) || RETRYABLE_NODE_CODES.has(code) || isConnectionEnded(error);
  return new AppError('INTERNAL', `Job store operation ${operation} failed.`, {
    cause: error,
    retryable,
    details: { operation, ...(isSqlState ? { sqlState: code } : code === '' ? {} : { errorCode: code }) },
  });
}

function isConnectionEnded(error: unknown): boolean {
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(message);
}

export function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown }).code === '23505';
}

/**
 * One pool per process for every PostgreSQL-backed store. Every statement runs on the server's
 * clock and under the pool's statement timeout; a lost connection is dropped from the pool and the
 * next query opens a fresh one, so a database restart costs the queries in flight, not the process.
 */
export class PostgresDatabase {
  private constructor(private readonly pool: pg.Pool) {}

  static async open(settings: PostgresConnectionSettings): Promise<PostgresDatabase> {
    const pool = new pg.Pool({
      connectionString: settings.url,
      ...(settings.password === undefined ? {} : { password: settings.password }),
      max: settings.poolSize,
      connectionTimeoutMillis: settings.connectTimeoutMs,
      statement_timeout: settings.statementTimeoutMs,
      application_name: settings.applicationName,
      // Without a listener, an idle connection that the server closes takes the whole process down.
      idleTimeoutMillis: 30_000,
    });
    pool.on('error', () => undefined);
    const database = new PostgresDatabase(pool);
    try {
      await database.migrate();
    } catch (error) {
      await pool.end();
      throw error;
    }
    return database;
  }

  async query<Row extends pg.QueryResultRow>(operation: string, sql: string, params: readonly unknown[] = []): Promise<pg.QueryResult<Row>> {
    try {
      return await this.pool.query<Row>(sql, [...params]);
    } catch (error) {
      throw storeError(operation, error);
    }
  }

  /** Runs `work` in one transaction on one connection; it commits when `work` resolves. */
  async transaction<T>(operation: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.connect(operation);
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw storeError(operation, error);
    } finally {
      client.release();
    }
  }

  /**
   * Runs `work` only if no other process holds the lock, and holds it until `work` settles.
   * Resolves to undefined without running `work` when another holds it. The lock is a session lock:
   * if this process dies, its connection closes and the lock is free again.
   */
  async runExclusive<T>(lock: AdvisoryLock, work: () => Promise<T>): Promise<T | undefined> {
    const client = await this.connect('runExclusive');
    let isHeld = false;
    try {
      const result = await client.query<{ acquired: boolean }>('SELECT pg_try_advisory_lock($1) AS acquired', [ADVISORY_LOCKS[lock].toString()]);
      isHeld = result.rows[0]?.acquired === true;
      return isHeld ? await work() : undefined;
    } finally {
      if (isHeld) await client.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCKS[lock].toString()]).catch(() => undefined);
      client.release();
    }
  }

  async schemaVersion(): Promise<number> {
    const result = await this.query<{ version: number | null }>('schemaVersion', 'SELECT MAX(version) AS version FROM schema_migrations');
    return result.rows[0]?.version ?? 0;
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }

  private async connect(operation: string): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (error) {
      throw storeError(operation, error);
    }
  }

  /** Replicas starting together take turns on a transaction-scoped lock; DDL is transactional here, so a failed step leaves the old version. */
  private async migrate(): Promise<void> {
    await this.transaction('migrate', async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [ADVISORY_LOCKS.migration.toString()]);
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
      const result = await client.query<{ version: number | null }>('SELECT MAX(version) AS version FROM schema_migrations');
      const current = result.rows[0]?.version ?? 0;
      if (current > MIGRATIONS.length) {
        throw new AppError('INTERNAL', `Job database has schema version ${current}, newer than this release knows (${MIGRATIONS.length}).`, {
          details: { schemaVersion: current },
        });
      }
      for (const [index, sql] of MIGRATIONS.entries()) {
        if (index < current) continue;
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [index + 1]);
      }
    });
  }
}
