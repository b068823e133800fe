import { benchConfig } from './support/bench-app.js';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../src/api/app.js';
import { createServiceMetrics } from '../src/api/metrics.js';
import { tackerCallbackRouter } from '../src/api/tacker-router.js';
import { systemClock } from '../src/clock.js';
import { createLcmEventSteps, type TackerPluginDependencies } from '../src/injection/lcm-event-steps.js';
import { TackerPlugin } from '../src/injection/tacker-plugin.js';
import { JobRunner } from '../src/jobs/job-runner.js';
import type { JobStore } from '../src/jobs/job-store.js';
import { createLogger } from '../src/log.js';
import { InMemoryMeshCredentials, StaticResolver } from '../test/support/test-credentials.js';

export const BENCH_CALLBACK_PASSWORD = 'bench-callback-password';

export interface IntakeServer {
  /** The v2 notification route. */
  url: string;
  close(): Promise<void>;
}

/**
 * The real notification intake (Basic auth, parsing, one durable commit per notification) on a
 * given store, with the runner never started, so only intake is measured.
 */
export async function startIntakeServer(store: JobStore, artifactsDir: string): Promise<IntakeServer> {
  const logger = createLogger({ silent: true });
  const deps = { config: { defaults: {}, profiles: {} }, clock: systemClock } as unknown as TackerPluginDependencies;
  const runner = new JobRunner({ store, steps: { 'lcm-event': createLcmEventSteps({ ...deps, activeTimeoutMs: 1000 }) }, clock: systemClock, logger, concurrency: 1, stopGraceMs: 0 });
  const plugin = new TackerPlugin({ runner, store, deps });
  const credentials = new InMemoryMeshCredentials();
  const app = createApp({
    config: benchConfig,
    logger,
    metrics: createServiceMetrics(),
    render: { credentials, controlPlane: credentials, resolver: new StaticResolver({}), installScript: Buffer.alloc(0), artifactsDir, tokenLifetimeSeconds: 3600, now: Date.now },
    apiTokens: [],
    readinessChecks: [],
    tackerCallbacks: tackerCallbackRouter({ plugin, apiVersions: ['v2'], auth: () => ({ kind: 'basic', username: 'tacker', password: BENCH_CALLBACK_PASSWORD }), http: benchConfig.http, logger }),
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/tacker/notifications/v2`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
