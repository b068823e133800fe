import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type AppDependencies } from '../../src/api/app.js';
import { createServiceMetrics } from '../../src/api/metrics.js';
import { configSchema } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { InMemoryMeshCredentials, StaticResolver } from '../../test/support/test-credentials.js';

/** The benches measure the callback path itself, not the per-client budgets that would stop their bursts. */
export const benchConfig = configSchema.parse({ http: { rateLimit: { unauthenticated: 1_000_000, authenticated: 1_000_000 } } });

export interface BenchApp {
  baseUrl: string;
  close(): void;
}

/** The service's real HTTP app on a loopback port, with the parts a benchmark does not exercise stubbed by test doubles. */
export async function startBenchApp(dir: string, parts: Partial<AppDependencies>): Promise<BenchApp> {
  const credentials = new InMemoryMeshCredentials();
  const app = createApp({
    config: benchConfig,
    logger: createLogger({ silent: true }),
    metrics: createServiceMetrics(),
    render: { credentials, controlPlane: credentials, resolver: new StaticResolver({}), installScript: Buffer.alloc(0), artifactsDir: dir, tokenLifetimeSeconds: 3600, now: Date.now },
    apiTokens: [],
    readinessChecks: [],
    ...parts,
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
