import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createServiceMetrics } from '../src/api/metrics.js';
import { systemClock } from '../src/clock.js';
import { InjectionService } from '../src/injection/injection-service.js';
import { JobRunner } from '../src/jobs/job-runner.js';
import { JOB_STATES, newJob, type Job, type JobKind, type JobState } from '../src/jobs/job.js';
import { SqliteJobStore } from '../src/jobs/sqlite-job-store.js';
import { createLogger } from '../src/log.js';
import { validSpecInput } from '../test/support/spec-fixtures.js';
import { startBenchApp } from './support/bench-app.js';
import { latencySummary } from './support/latency-summary.js';

/**
 * The operator's reads on a store that has run a while (10,000 jobs, most of them finished): the
 * job list filtered by state (and kind), and the Prometheus scrape that counts jobs per state.
 * Both must stay interactive; a full scan or a per-row parse of the whole table would not.
 */
const STORED_JOBS = 10_000;
const REQUESTS_PER_QUERY = 200;
const TARGET_P99_MS = 50;
const KINDS: readonly JobKind[] = ['inject', 'inject', 'inject', 'inject', 'inject', 'lcm-event', 'lcm-event', 'lcm-event', 'remove', 'notification'];
/** Mostly finished work, a few of each other state, as a long-running service holds. */
const STATES: readonly JobState[] = [...Array<JobState>(14).fill('succeeded'), 'failed', 'failed_temp', 'pending', 'retry_wait', 'running', 'failed'];

function storedJob(index: number): Job {
  const spec = validSpecInput() as { vm: Record<string, unknown> };
  spec.vm = { ...spec.vm, name: `vm-${index}`, address: `10.0.${Math.floor(index / 250) % 250}.${(index % 250) + 1}` };
  const job = newJob({ kind: KINDS[index % KINDS.length] ?? 'inject', subjectKey: `server-${index % 2_000}`, input: { spec } as never, stepNames: ['resolve', 'bootstrap', 'deliver', 'verify', 'register', 'notify'], now: Date.now() - (STORED_JOBS - index) * 1000 });
  return { ...job, state: STATES[index % STATES.length] ?? 'succeeded' };
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-bench-queries-'));
const store = SqliteJobStore.open({ path: path.join(dir, 'jobs.sqlite') });
const logger = createLogger({ silent: true });
const runner = new JobRunner({ store, steps: {}, clock: systemClock, logger, concurrency: 1, stopGraceMs: 0 });
const metrics = createServiceMetrics();
metrics.trackJobStates(store);
const token = 'bench-token-0123456789abcdef';
const app = await startBenchApp(dir, { metrics, injections: new InjectionService({ runner, store }), apiTokens: [{ name: 'bench', token, scopes: ['read'] }] });
const base = app.baseUrl;

async function timeRequests(route: string): Promise<{ route: string; p50: string; p99: string; max: string; p99Ms: number }> {
  const samples: number[] = [];
  for (let i = 0; i < REQUESTS_PER_QUERY; i++) {
    const started = performance.now();
    const response = await fetch(`${base}${route}`, { headers: { authorization: `Bearer ${token}` } });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`${route} answered ${response.status}`);
    samples.push(performance.now() - started);
  }
  const summary = latencySummary(samples);
  return { route, p50: summary.p50Ms.toFixed(2), p99: summary.p99Ms.toFixed(2), max: summary.maxMs.toFixed(2), p99Ms: summary.p99Ms };
}

const results: Awaited<ReturnType<typeof timeRequests>>[] = [];
try {
  // Created a thousand at a time: the store commits concurrent creates together.
  for (let first = 0; first < STORED_JOBS; first += 1_000) await Promise.all(Array.from({ length: 1_000 }, (_, offset) => store.create(storedJob(first + offset))));
  const routes = [
    ...JOB_STATES.map((state) => `/v1/injections?state=${state}`),
    '/v1/injections?state=succeeded&kind=inject',
    '/v1/injections?kind=remove',
    '/metrics',
  ];
  for (const route of routes) results.push(await timeRequests(route));
} finally {
  app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
console.table(results.map(({ route, p50, p99, max }) => ({ [`at ${STORED_JOBS} jobs`]: route, 'p50 ms': p50, 'p99 ms': p99, 'max ms': max, 'target p99 ms': TARGET_P99_MS })));
const misses = results.filter((result) => result.p99Ms > TARGET_P99_MS);
for (const miss of misses) console.error(`${miss.route}: p99 ${miss.p99} ms is over the ${TARGET_P99_MS} ms target`);
if (misses.length > 0) process.exitCode = 1;
