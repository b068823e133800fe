import { PostgresDatabase } from '../../../src/jobs/postgres-database.js';
import { startPostgresCluster, type PostgresCluster } from './postgres-cluster.js';

let shared: { cluster: Promise<PostgresCluster>; users: number } | undefined;
let databaseCount = 0;

/**
 * The run's throwaway cluster, started by the first suite that asks and stopped when the last one
 * lets go (releasePostgresCluster in its after hook), so suites share one cluster without a global hook.
 */
export function acquirePostgresCluster(): Promise<PostgresCluster> {
  shared ??= { cluster: startPostgresCluster(), users: 0 };
  shared.users += 1;
  const { cluster } = shared;
  cluster.catch(() => (shared = undefined));
  return cluster;
}

export async function releasePostgresCluster(): Promise<void> {
  if (shared === undefined) return;
  shared.users -= 1;
  if (shared.users > 0) return;
  const { cluster } = shared;
  shared = undefined;
  await (await cluster).stop();
}

/** A new empty database on the cluster; its URL (Unix socket, no password). */
export async function freshDatabaseUrl(cluster: PostgresCluster, purpose: string): Promise<string> {
  databaseCount += 1;
  return cluster.createDatabase(`${purpose}_${process.pid}_${databaseCount}`);
}

export function openTestDatabase(url: string): Promise<PostgresDatabase> {
  return PostgresDatabase.open({ url, poolSize: 5, connectTimeoutMs: 10_000, statementTimeoutMs: 30_000, applicationName: 'vmsi-test' });
}
