import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { SqliteJobStore } from '../src/jobs/sqlite-job-store.js';
import { startPostgresCluster, type PostgresCluster } from '../test/support/postgres/postgres-cluster.js';
import { BENCH_CALLBACK_PASSWORD, startIntakeServer } from './intake-server.js';

/**
 * Notification-to-204 latency under load: Tacker v2 waits for the 204 and never retries, so this is
 * the number that decides whether events are lost. Measures the real intake (Basic auth, parsing,
 * a durable commit per notification) with the runner stopped, so only intake is timed.
 *
 * By default on one in-process SQLite store. With `--postgres --replicas N`, on N intake processes
 * sharing a throwaway PostgreSQL cluster (Debian's postgresql, Unix socket), the senders spreading
 * notifications over them in turn as a load balancer would.
 */
const NOTIFICATIONS = 3000;
/**
 * Every notification is committed durably before its 204, so under load latency is queueing behind
 * commits. Tacker v1 gives up after 10 s and v2 never times out; the target keeps a tenfold margin
 * below v1's timeout with 32 senders at once.
 */
const TARGET_P99_MS = 1000;
const template = JSON.parse(readFileSync(new URL('../src/tacker/testdata/v2-instantiate-completed.json', import.meta.url), 'utf8')) as Record<string, unknown>;

const { values: options } = parseArgs({ options: { postgres: { type: 'boolean', default: false }, replicas: { type: 'string', default: '1' } } });
const replicaCount = Number(options.replicas);
if (!Number.isInteger(replicaCount) || replicaCount < 1 || replicaCount > 8) throw new Error('--replicas takes 1 to 8');
if (replicaCount > 1 && !options.postgres) throw new Error('several replicas need --postgres: the SQLite store serves one process');

interface Intake {
  urls: string[];
  label: string;
  close(): Promise<void>;
}

async function sqliteIntake(): Promise<Intake> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-bench-'));
  const store = SqliteJobStore.open({ path: path.join(dir, 'jobs.sqlite') });
  const intake = await startIntakeServer(store, dir);
  return {
    urls: [intake.url],
    label: 'SQLite, 1 process',
    close: async () => {
      await intake.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function startReplica(databaseUrl: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'intake-replica.ts'), databaseUrl], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const line = seen.split('\n').find((candidate) => candidate.startsWith('http://'));
      if (line !== undefined) resolve({ child, url: line.trim() });
    });
    child.once('exit', (code) => reject(new Error(`intake replica exited with ${code}`)));
  });
}

async function postgresIntake(replicas: number): Promise<Intake> {
  const cluster: PostgresCluster = await startPostgresCluster();
  try {
    const databaseUrl = await cluster.createDatabase('bench_intake');
    // One at a time: the first applies the migrations.
    const started: Array<{ child: ChildProcess; url: string }> = [];
    for (let n = 0; n < replicas; n++) started.push(await startReplica(databaseUrl));
    return {
      urls: started.map((replica) => replica.url),
      label: `PostgreSQL, ${replicas} replica process${replicas === 1 ? '' : 'es'}`,
      close: async () => {
        await Promise.all(started.map(({ child }) => new Promise((resolve) => (child.once('exit', resolve), child.stdin?.end()))));
        await cluster.stop();
      },
    };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

const intake = options.postgres ? await postgresIntake(replicaCount) : await sqliteIntake();
const authorization = `Basic ${Buffer.from(`tacker:${BENCH_CALLBACK_PASSWORD}`).toString('base64')}`;

let sent = 0;

async function send(index: number): Promise<number> {
  // Every tenth one repeats an earlier operation: duplicates must be as cheap as new events.
  const opOcc = index % 10 === 9 ? `op-${index - 1}` : `op-${index}`;
  const body = JSON.stringify({ ...template, id: randomUUID(), vnfLcmOpOccId: opOcc, vnfInstanceId: `vnf-${index % 50}` });
  const started = performance.now();
  const url = intake.urls[index % intake.urls.length] ?? '';
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization, version: '2.0.0' }, body });
  if (response.status !== 204) throw new Error(`notification ${index} answered ${response.status}`);
  return performance.now() - started;
}

interface LoadResult {
  concurrency: number;
  p50: number;
  p99: number;
  max: number;
  perSecond: number;
}

async function load(concurrency: number, count: number): Promise<LoadResult> {
  const latencies: number[] = [];
  const end = sent + count;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sent < end) latencies.push(await send(sent++));
    }),
  );
  const elapsed = performance.now() - started;
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { concurrency, p50: at(0.5), p99: at(0.99), max: at(1), perSecond: (count / elapsed) * 1000 };
}

const results = [await load(1, 500), await load(32, NOTIFICATIONS)];
console.log(`notification intake: ${intake.label}`);
console.table(results.map((r) => ({ senders: r.concurrency, 'p50 ms': r.p50.toFixed(2), 'p99 ms': r.p99.toFixed(2), 'max ms': r.max.toFixed(2), 'notifications/s': Math.round(r.perSecond) })));
const loaded = results[1] as LoadResult;
await intake.close();
if (loaded.p99 > TARGET_P99_MS) {
  console.error(`p99 ${loaded.p99.toFixed(1)} ms under load is over the ${TARGET_P99_MS} ms target`);
  process.exitCode = 1;
}
