import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { resolveDataPath, type Config } from '../config.js';
import { durationToMs } from '../duration.js';
import type { OrchestratorInbox } from '../orchestrator/orchestrator-inbox.js';
import { SqliteOrchestratorInbox } from '../orchestrator/sqlite-orchestrator-inbox.js';
import type { JobStore } from '../jobs/job-store.js';
import { PostgresDatabase, type AdvisoryLock } from '../jobs/postgres-database.js';
import { PostgresJobStore } from '../jobs/postgres-job-store.js';
import { PostgresOrchestratorInbox } from '../orchestrator/postgres-orchestrator-inbox.js';
import { SqliteJobStore } from '../jobs/sqlite-job-store.js';
import { readSecretFile } from './wiring-parts.js';

/** The service's durable state, on the engine the config chose (store.kind). */
export interface OpenedStores {
  jobs: JobStore;
  /** The orchestrator's inbox, opened on first use (only an orchestrator needs it). */
  orchestratorInbox(): OrchestratorInbox;
  /**
   * Runs `work` on one replica at a time, skipping it (undefined) while another replica runs it.
   * With the embedded store there is one replica, so it just runs.
   */
  exclusive<T>(lock: AdvisoryLock, work: () => Promise<T>): Promise<T | undefined>;
  /** Whether the store answers: for the readiness probe. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The one place that picks the store: SQLite files for one machine, or PostgreSQL shared by replicas. */
export async function openJobStore(config: Config): Promise<OpenedStores> {
  return config.store.kind === 'postgres' ? openPostgres(config, config.store) : openSqlite(config);
}

function openSqlite(config: Config): OpenedStores {
  const jobs = SqliteJobStore.open({ path: resolveDataPath(config, config.jobs.database) });
  let events: SqliteOrchestratorInbox | undefined;
  return {
    jobs,
    orchestratorInbox: () => (events ??= SqliteOrchestratorInbox.open(resolveDataPath(config, config.orchestrator?.database ?? 'orchestrator.sqlite'))),
    exclusive: (_lock, work) => work(),
    ping: async () => {
      await jobs.get('readiness-probe');
    },
    close: async () => {
      await jobs.close();
      await events?.close();
    },
  };
}

type PostgresStoreConfig = Extract<Config['store'], { kind: 'postgres' }>;

/** Unique per process, so a restarted replica never mistakes its predecessor's leases for its own. */
function leaseOwner(store: PostgresStoreConfig): string {
  return `${store.replicaName ?? os.hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
}

async function openPostgres(config: Config, store: PostgresStoreConfig): Promise<OpenedStores> {
  const owner = leaseOwner(store);
  const database = await PostgresDatabase.open({
    url: store.url,
    ...(store.passwordFile === undefined ? {} : { password: await readSecretFile(store.passwordFile, 'Database password') }),
    poolSize: store.poolSize,
    connectTimeoutMs: durationToMs(store.connectTimeout),
    statementTimeoutMs: durationToMs(store.statementTimeout),
    applicationName: `vmsi ${owner}`.slice(0, 63),
  });
  const events = new PostgresOrchestratorInbox(database);
  return {
    jobs: new PostgresJobStore({ database, owner, leaseMs: durationToMs(store.lease) }),
    orchestratorInbox: () => events,
    exclusive: (lock, work) => database.runExclusive(lock, work),
    ping: async () => {
      await database.query('ping', 'SELECT 1');
    },
    close: () => database.close(),
  };
}
