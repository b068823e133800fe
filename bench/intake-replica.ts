import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PostgresDatabase } from '../src/jobs/postgres-database.js';
import { PostgresJobStore } from '../src/jobs/postgres-job-store.js';
import { startIntakeServer } from './intake-server.js';

/**
 * One replica's intake, as its own process on a shared PostgreSQL database (argv[2]): prints its
 * URL, serves until its standard input closes (the benchmark ends or dies), then exits.
 */
const url = process.argv[2];
if (url === undefined) throw new Error('usage: intake-replica.ts <postgresql url>');
const dir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-bench-replica-'));
const database = await PostgresDatabase.open({ url, poolSize: 10, connectTimeoutMs: 10_000, statementTimeoutMs: 30_000, applicationName: 'vmsi-bench' });
const intake = await startIntakeServer(new PostgresJobStore({ database, owner: `bench/${process.pid}`, leaseMs: 30_000 }), dir);
process.stdout.write(`${intake.url}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void intake
    .close()
    .then(() => database.close())
    .finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
});
