import { createApp } from '../../src/api/app.js';
import type { ApiToken } from '../../src/api/authentication.js';
import { startHttpServer } from '../../src/api/http-server.js';
import { createServiceMetrics } from '../../src/api/metrics.js';
import { orchestratorTackerRouter } from '../../src/api/orchestrator-tacker-router.js';
import type { OrchestratorInbox } from '../../src/orchestrator/orchestrator-inbox.js';
import { OperationArrivals } from '../../src/orchestrator/operation-arrivals.js';
import { orchestratorEventsRouter } from '../../src/api/orchestrator-events-router.js';
import { orchestratorRouter } from '../../src/api/orchestrator-router.js';
import { tackerCallbackRouter, tackerMgmtRouter } from '../../src/api/tacker-router.js';
import { systemClock } from '../../src/clock.js';
import { configSchema, type Config } from '../../src/config.js';
import { AppError } from '../../src/errors.js';
import { InjectionService } from '../../src/injection/injection-service.js';
import { createLcmEventSteps, type TackerPluginDependencies } from '../../src/injection/lcm-event-steps.js';
import { TackerPlugin } from '../../src/injection/tacker-plugin.js';
import { InMemoryJobStore } from '../../src/jobs/in-memory-job-store.js';
import { JobRunner } from '../../src/jobs/job-runner.js';
import type { JobStore } from '../../src/jobs/job-store.js';
import type { Logger } from '../../src/log.js';
import type { ClusterObjects } from '../../src/orchestrator/cluster-objects.js';
import { SqliteOrchestratorInbox } from '../../src/orchestrator/sqlite-orchestrator-inbox.js';
import { OrchestratorService } from '../../src/orchestrator/orchestrator-service.js';
import type { VnfLifecycle } from '../../src/orchestrator/vnf-convergence.js';
import { createTestLogger } from './run-log.js';
import { InMemoryMeshCredentials } from './test-credentials.js';
import { testRenderDependencies } from './test-service.js';

export const FULL_APP_TOKENS = {
  admin: 'full-app-admin-token-0123456789abcdef',
  reader: 'full-app-reader-token-0123456789abcdef',
  writer: 'full-app-writer-token-0123456789abcdef',
} as const;
export const CALLBACK_USER = 'tacker';
export const CALLBACK_PASSWORD = 'full-app-callback-password-0123456789';
export const EVENT_SECRET = Buffer.from('full-app-event-secret-0123456789abcdef');

export interface RegisteredRoute {
  method: string;
  path: string;
}

export interface FullApp {
  url: string;
  /** Every route the app registers, read from express's own router stack. */
  routes: RegisteredRoute[];
  store: JobStore;
  /** The orchestrator's inbox the event and Tacker callback routes write to. */
  inbox: OrchestratorInbox;
  close(): Promise<void>;
}

/**
 * A port whose every call fails as an unreachable service would: the routes under test store jobs
 * and never reach Kubernetes or Tacker, and a call that does must not look like a success.
 */
export function unreachable<T extends object>(what: string, values: Partial<T> = {}): T {
  return new Proxy(values as T, {
    get: (target, key) =>
      key in target ? (target as Record<string | symbol, unknown>)[key] : () => Promise.reject(new AppError('SERVICE_UNREACHABLE', `${what} is not part of this test.`, { retryable: true })),
  });
}

/**
 * The app with every router main.ts can mount (Tacker callbacks with Basic auth, mgmt, injections,
 * orchestrator and its event inbox), on the real HTTP server, over in-memory stores. The job
 * runner is not started: requests are answered and stored, nothing runs.
 */
export async function startFullApp(options: { http?: Record<string, unknown>; logger?: Logger; store?: JobStore } = {}): Promise<FullApp> {
  const config: Config = configSchema.parse({ http: { host: '127.0.0.1', port: 0, auth: { anonymousPaths: ['/healthz', '/readyz'] }, ...options.http } });
  const logger = options.logger ?? createTestLogger();
  const store = options.store ?? new InMemoryJobStore();
  const tackerDeps = unreachable<TackerPluginDependencies>('Tacker', { activeTimeoutMs: 1_000 });
  const runner = new JobRunner({ store, steps: { 'lcm-event': createLcmEventSteps(tackerDeps) }, clock: systemClock, logger, concurrency: 1, stopGraceMs: 0 });
  const injections = new InjectionService({ runner, store });
  const plugin = new TackerPlugin({ runner, store, deps: tackerDeps });
  const events = SqliteOrchestratorInbox.open(':memory:');
  const orchestrator = new OrchestratorService({ runner, store, cluster: unreachable<ClusterObjects>('Kubernetes'), tacker: () => Promise.resolve(unreachable<VnfLifecycle>('Tacker')), events });
  const credentials = new InMemoryMeshCredentials({ meshConfig: { trustDomain: 'cluster.local', defaultConfig: { discoveryAddress: 'istiod.istio-system.svc:15012' } } });
  const tokens: ApiToken[] = [
    { name: 'admin', token: FULL_APP_TOKENS.admin, scopes: ['read', 'write', 'secrets'] },
    { name: 'reader', token: FULL_APP_TOKENS.reader, scopes: ['read'] },
    { name: 'writer', token: FULL_APP_TOKENS.writer, scopes: ['write'] },
  ];
  const app = createApp({
    config,
    logger,
    metrics: createServiceMetrics(),
    render: testRenderDependencies(credentials),
    injections,
    tackerCallbacks: tackerCallbackRouter({ plugin, apiVersions: ['v1', 'v2'], auth: () => ({ kind: 'basic', username: CALLBACK_USER, password: CALLBACK_PASSWORD }), http: config.http, logger }),
    tackerMgmt: tackerMgmtRouter(plugin),
    orchestrator: orchestratorRouter(orchestrator),
    orchestratorEvents: orchestratorEventsRouter({ events, secret: EVENT_SECRET, http: config.http, now: Date.now, logger }),
    orchestratorTackerCallbacks: orchestratorTackerRouter({ inbox: events, arrivals: new OperationArrivals(), auth: { kind: 'basic', username: CALLBACK_USER, password: CALLBACK_PASSWORD }, http: config.http, now: Date.now, logger }),
    apiTokens: tokens,
    readinessChecks: [],
  });
  const server = await startHttpServer(app, config.http, logger);
  return {
    url: server.url,
    routes: routesOf((app as unknown as { router: RouterLike }).router),
    store,
    inbox: events,
    close: async () => {
      await server.close();
      await events.close();
    },
  };
}

interface RouterLike {
  stack: Array<{ route?: { path: string; methods: Record<string, boolean> }; handle?: Partial<RouterLike> }>;
}

function routesOf(router: RouterLike): RegisteredRoute[] {
  return router.stack.flatMap((layer) => {
    if (layer.route !== undefined) {
      const { path } = layer.route;
      return Object.keys(layer.route.methods).map((method) => ({ method: method.toUpperCase(), path }));
    }
    return layer.handle?.stack === undefined ? [] : routesOf(layer.handle as RouterLike);
  });
}

export function basicAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
