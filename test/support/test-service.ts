import { createApp } from '../../src/api/app.js';
import { startHttpServer } from '../../src/api/http-server.js';
import type { ApiToken } from '../../src/api/authentication.js';
import { createServiceMetrics } from '../../src/api/metrics.js';
import { configSchema, type Config } from '../../src/config.js';
import type { RenderDependencies } from '../../src/render/render-injection.js';
import type { InjectionService } from '../../src/injection/injection-service.js';
import { createTestLogger } from './run-log.js';
import { InMemoryMeshCredentials, StaticResolver } from './test-credentials.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
export const READER_TOKEN = 'test-reader-token-0123456789abcdef';

export interface TestService {
  url: string;
  credentials: InMemoryMeshCredentials;
  close(): Promise<void>;
}

/** Render dependencies over in-memory credentials, a fixed gateway name and a do-nothing install script. */
export function testRenderDependencies(credentials: InMemoryMeshCredentials): RenderDependencies {
  return {
    credentials,
    controlPlane: credentials,
    resolver: new StaticResolver({ 'eastwest.example.net': '198.51.100.2' }),
    installScript: Buffer.from('#!/bin/bash\nexit 0\n'),
    artifactsDir: '/nonexistent',
    tokenLifetimeSeconds: 3600,
    now: Date.now,
  };
}

/** The real express app on port 0 with in-memory adapters: tests speak HTTP to it. */
export async function startTestService(overrides: { config?: Partial<Config>; render?: Partial<RenderDependencies>; injections?: InjectionService } = {}): Promise<TestService> {
  const config: Config = { ...configSchema.parse({}), ...overrides.config };
  const credentials = new InMemoryMeshCredentials({ meshConfig: { trustDomain: 'cluster.local', defaultConfig: { discoveryAddress: 'istiod.istio-system.svc:15012' } } });
  const tokens: ApiToken[] = [
    { name: 'admin', token: ADMIN_TOKEN, scopes: ['read', 'write', 'secrets'] },
    { name: 'reader', token: READER_TOKEN, scopes: ['read'] },
  ];
  const logger = createTestLogger();
  const app = createApp({
    config,
    logger,
    metrics: createServiceMetrics(),
    render: { ...testRenderDependencies(credentials), ...overrides.render },
    apiTokens: tokens,
    readinessChecks: [],
    ...(overrides.injections === undefined ? {} : { injections: overrides.injections }),
  });
  const http = await startHttpServer(app, { ...config.http, host: '127.0.0.1', port: 0 }, logger);
  return { url: http.url, credentials, close: () => http.close() };
}
