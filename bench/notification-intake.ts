import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { tackerCallbackRouter } from '../src/api/tacker-router.js';
import { systemClock } from '../src/clock.js';
import { createLcmEventSteps, type TackerPluginDependencies } from '../src/injection/lcm-event-steps.js';
import { TackerPlugin } from '../src/injection/tacker-plugin.js';
import { JobRunner } from '../src/jobs/job-runner.js';
import { SqliteJobStore } from '../src/jobs/sqlite-job-store.js';
import { createLogger } from '../src/log.js';
import { benchConfig, startBenchApp } from './support/bench-app.js';
import { latencySummary, type LatencySummary } from './support/latency-summary.js';
import type { HttpLoadPlan, HttpLoadReport } from './support/http-load-worker.js';
import { operationOf } from './support/tacker-notifications.js';

/**
 * Tacker v2 notifications to the 204, under load: v2 waits for the 204 and never retries, so this
 * decides whether events are lost. The real intake runs (Basic auth, parsing, de-duplication, a
 * durable SQLite commit with synchronous=FULL before each 204) with the runner stopped, so only
 * intake is timed. Afterwards every notification that got its 204 is checked to be in the file.
 */
const SENDERS = 50;
/** Bounded in time and count: whichever ends first. */
const LOAD_DURATION_MS = 10_000;
const MAX_NOTIFICATIONS = 60_000;
const WARMUP_NOTIFICATIONS = 2_000;
const TARGET_PER_SECOND = 2_000;
const TARGET_P99_MS = 25;

const dir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-bench-intake-'));
const databaseFile = path.join(dir, 'jobs.sqlite');
const store = SqliteJobStore.open({ path: databaseFile });
const logger = createLogger({ silent: true });
const deps = { config: { defaults: {}, profiles: {} }, clock: systemClock } as unknown as TackerPluginDependencies;
const runner = new JobRunner({ store, steps: { 'lcm-event': createLcmEventSteps({ ...deps, activeTimeoutMs: 1000 }) }, clock: systemClock, logger, concurrency: 1, stopGraceMs: 0 });
const plugin = new TackerPlugin({ runner, store, deps });
const password = 'bench-callback-password';
const app = await startBenchApp(dir, {
  tackerCallbacks: tackerCallbackRouter({ plugin, apiVersions: ['v2'], auth: () => ({ kind: 'basic', username: 'tacker', password }), http: benchConfig.http, logger }),
});
const url = `${app.baseUrl}/v1/tacker/notifications/v2`;
const headers = { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`tacker:${password}`).toString('base64')}`, version: '2.0.0' };

function load(bodyModule: URL, count: number): Promise<HttpLoadReport> {
  const plan: HttpLoadPlan = { url, headers, bodyModule: bodyModule.href, count, concurrency: SENDERS, durationMs: LOAD_DURATION_MS };
  const worker = new Worker(new URL('./support/http-load-worker.ts', import.meta.url), { workerData: plan });
  return new Promise((resolve, reject) => {
    worker.once('message', (report: HttpLoadReport) => resolve(report));
    worker.once('error', reject);
  });
}

/** The durability half of the contract: each operation answered 204 has its job in the file. */
function missingOperations(accepted: number[]): string[] {
  const db = new DatabaseSync(databaseFile, { readOnly: true });
  const stored = new Set((db.prepare("SELECT idempotency_key AS key FROM jobs WHERE kind = 'lcm-event'").all() as Array<{ key: string }>).map((row) => row.key.replace(/:COMPLETED$/, '')));
  db.close();
  return [...new Set(accepted.map((index) => operationOf(index)))].filter((opOcc) => !stored.has(opOcc));
}

let result: { summary: LatencySummary; perSecond: number; sent: number; serviceMsEach: number; failures: string[]; missing: string[] };
try {
  await load(new URL('./support/warmup-notifications.ts', import.meta.url), WARMUP_NOTIFICATIONS);
  // The service thread's busy time per notification: what the intake costs, whatever else loads the machine.
  const busyBefore = performance.eventLoopUtilization();
  const report = await load(new URL('./support/tacker-notifications.ts', import.meta.url), MAX_NOTIFICATIONS);
  const busyMs = performance.eventLoopUtilization(busyBefore).active;
  result = {
    summary: latencySummary(report.latenciesMs),
    perSecond: (report.latenciesMs.length / report.elapsedMs) * 1000,
    sent: report.latenciesMs.length,
    serviceMsEach: busyMs / report.latenciesMs.length,
    failures: report.failures,
    missing: missingOperations(report.accepted),
  };
} finally {
  app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
const { summary, perSecond } = result;
console.table([{ senders: SENDERS, sent: result.sent, 'p50 ms': summary.p50Ms.toFixed(2), 'p99 ms': summary.p99Ms.toFixed(2), 'max ms': summary.maxMs.toFixed(2), 'notifications/s': Math.round(perSecond), 'service ms each': result.serviceMsEach.toFixed(3), 'target /s': TARGET_PER_SECOND, 'target p99 ms': TARGET_P99_MS }]);
const problems = [
  ...(result.failures.length > 0 ? [`${result.failures.length} notifications not answered 204, first: ${result.failures[0]}`] : []),
  ...(result.missing.length > 0 ? [`${result.missing.length} operations answered 204 but not stored, first: ${result.missing[0]}`] : []),
  ...(perSecond < TARGET_PER_SECOND ? [`throughput ${Math.round(perSecond)}/s is under the ${TARGET_PER_SECOND}/s target`] : []),
  ...(summary.p99Ms > TARGET_P99_MS ? [`p99 ${summary.p99Ms.toFixed(1)} ms is over the ${TARGET_P99_MS} ms target`] : []),
];
for (const problem of problems) console.error(problem);
if (problems.length > 0) process.exitCode = 1;
