import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createApp } from '../src/api/app.js';
import { createServiceMetrics } from '../src/api/metrics.js';
import { tackerCallbackRouter } from '../src/api/tacker-router.js';
import { systemClock } from '../src/clock.js';
import { configSchema } from '../src/config.js';
import { createLcmEventSteps, type TackerPluginDependencies } from '../src/injection/lcm-event-steps.js';
import { TackerPlugin } from '../src/injection/tacker-plugin.js';
import { JobRunner } from '../src/jobs/job-runner.js';
import { SqliteJobStore } from '../src/jobs/sqlite-job-store.js';
import { createLogger } from '../src/log.js';
import { InMemoryMeshCredentials, StaticResolver } from '../test/support/test-credentials.js';

/**
 * Notification-to-204 latency under load: Tacker v2 waits for the 204 and never retries, so this is
 * the number that decides whether events are lost. Measures the real intake (Basic auth, parsing,
 * a durable SQLite commit per notification) with the runner stopped, so only intake is timed.
 */
const NOTIFICATIONS = 3000;
/**
 * Every notification is committed with an fsync (synchronous=FULL) before its 204, so under load
 * latency is queueing behind commits. Tacker v1 gives up after 10 s and v2 never times out; the
 * target keeps a tenfold margin below v1's timeout with 32 senders at once.
 */
const TARGET_P99_MS = 1000;
const template = JSON.parse(readFileSync(new URL('../src/tacker/testdata/v2-instantiate-completed.json', import.meta.url), 'utf8')) as Record<string, unknown>;

const dir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-bench-'));
const store = SqliteJobStore.open({ path: path.join(dir, 'jobs.sqlite') });
const logger = createLogger({ silent: true });
const deps = { config: { defaults: {}, profiles: {} }, clock: systemClock } as unknown as TackerPluginDependencies;
const runner = new JobRunner({ store, steps: { 'lcm-event': createLcmEventSteps({ ...deps, activeTimeoutMs: 1000 }) }, clock: systemClock, logger, concurrency: 1, stopGraceMs: 0 });
const plugin = new TackerPlugin({ runner, store, deps });
const password = 'bench-callback-password';
const credentials = new InMemoryMeshCredentials();
// The bench measures the callback path itself, not the per-client budget that would stop its bursts.
const benchHttp = configSchema.parse({ http: { rateLimit: { unauthenticated: 1_000_000, authenticated: 1_000_000 } } }).http;
const app = createApp({
  config: configSchema.parse({ http: benchHttp }),
  logger,
  metrics: createServiceMetrics(),
  render: { credentials, controlPlane: credentials, resolver: new StaticResolver({}), installScript: Buffer.alloc(0), artifactsDir: dir, tokenLifetimeSeconds: 3600, now: Date.now },
  apiTokens: [],
  readinessChecks: [],
  tackerCallbacks: tackerCallbackRouter({ plugin, apiVersions: ['v2'], auth: () => ({ kind: 'basic', username: 'tacker', password }), http: benchHttp, logger }),
});
const server: Server = await new Promise((resolve) => {
  const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
});
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/tacker/notifications/v2`;
const authorization = `Basic ${Buffer.from(`tacker:${password}`).toString('base64')}`;

let sent = 0;

async function send(index: number): Promise<number> {
  // Every tenth one repeats an earlier operation: duplicates must be as cheap as new events.
  const opOcc = index % 10 === 9 ? `op-${index - 1}` : `op-${index}`;
  const body = JSON.stringify({ ...template, id: randomUUID(), vnfLcmOpOccId: opOcc, vnfInstanceId: `vnf-${index % 50}` });
  const started = performance.now();
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
console.table(results.map((r) => ({ senders: r.concurrency, 'p50 ms': r.p50.toFixed(2), 'p99 ms': r.p99.toFixed(2), 'max ms': r.max.toFixed(2), 'notifications/s': Math.round(r.perSecond) })));
const loaded = results[1] as LoadResult;
server.closeAllConnections();
server.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
if (loaded.p99 > TARGET_P99_MS) {
  console.error(`p99 ${loaded.p99.toFixed(1)} ms under load is over the ${TARGET_P99_MS} ms target`);
  process.exitCode = 1;
}
