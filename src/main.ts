import { mkdir } from 'node:fs/promises';
import { loadApiTokens } from './api/api-tokens.js';
import { createApp, type AppDependencies } from './api/app.js';
import { startHttpServer } from './api/http-server.js';
import type { OrchestratorParts, OrchestratorWiring } from './composition/orchestrator-capability.js';
import type { TackerWiring } from './composition/tacker-plugin-capability.js';
import type { TackerPlugin } from './injection/tacker-plugin.js';
import { kubeConfigOf, notReady, openstackClients, optional, readHmacSecret, type LateParts } from './composition/wiring-parts.js';
import { dataDirWritable } from './api/health-router.js';
import { createServiceMetrics, type ServiceMetrics } from './api/metrics.js';
import { resolveDataPath, type Config } from './config.js';
import { durationToMs } from './duration.js';
import { AppError } from './errors.js';
import { checkConfiguredUrls } from './outbound-url.js';
import { createInjectionSteps } from './injection/injection-steps.js';
import type { IstioCaSettings } from './injection/workload-certificate.js';
import { CertificateRenewal } from './injection/certificate-renewal.js';
import { InjectionService } from './injection/injection-service.js';
import { FailureAnnouncer, createNotificationSteps } from './injection/failure-notifications.js';
import { systemClock } from './clock.js';
import { JobRunner } from './jobs/job-runner.js';
import { openJobStore, type OpenedStores } from './composition/open-job-store.js';
import { createLogger, type Logger } from './log.js';
import { FileMeshCredentials } from './mesh/file-mesh-credentials.js';
import { FileMeshRegistry } from './mesh/file-mesh-registry.js';
import type { ControlPlaneSettingsSource, MeshCredentials } from './mesh/mesh-credentials.js';
import type { MeshRegistry } from './mesh/mesh-registry.js';
import type { Notifier } from './notify/notifier.js';
import { WebhookNotifier } from './notify/webhook-notifier.js';
import { loadInstallScript } from './render/injection-bundle.js';
import { systemResolver, type RenderDependencies } from './render/render-injection.js';
import { FileSecretResolver } from './secrets/file-secret-resolver.js';
import { FileHostKeyStore } from './ssh/file-host-key-store.js';
import { Ssh2VmShell } from './ssh/ssh2-vm-shell.js';
import { sshBundleDelivery } from './ssh/deliver-bundle.js';
import { IstioCaClient } from './mesh/istio-ca/istio-ca-client.js';
import type { TackerApiVersion } from './injection/lcm-event-steps.js';
import type { JobStore } from './jobs/job-store.js';
import type { StepDefinitions } from './jobs/step-definition.js';
import type { TackerClient } from './tacker/tacker-client.js';

export interface RunningService {
  url: string;
  close(): Promise<void>;
}

/** How long stop() lets a running step finish before aborting it; the job resumes at next start. */
const STOP_GRACE_MS = 10_000;

export async function meshCredentialsOf(config: Config, logger: Logger): Promise<MeshCredentials & ControlPlaneSettingsSource> {
  const credentials = config.mesh.credentials;
  if (credentials.kind === 'file') return new FileMeshCredentials(resolveDataPath(config, credentials.dir));
  const { KubernetesMeshCredentials } = await import('./mesh/kubernetes/kubernetes-mesh-credentials.js');
  return new KubernetesMeshCredentials({ kubeConfig: await kubeConfigOf(config), logger, requestTimeoutMs: durationToMs(config.kubernetes?.requestTimeout ?? '30s') });
}

async function meshRegistryOf(config: Config, logger: Logger): Promise<MeshRegistry> {
  const registry = config.registry;
  if (registry.kind === 'file') return new FileMeshRegistry(resolveDataPath(config, registry.dir));
  const { KubernetesMeshRegistry } = await import('./mesh/kubernetes/kubernetes-mesh-registry.js');
  return new KubernetesMeshRegistry({ kubeConfig: await kubeConfigOf(config), logger, requestTimeoutMs: durationToMs(config.kubernetes?.requestTimeout ?? '30s') });
}

/** Wiring only: concrete adapters are chosen here and nowhere else. */
export async function renderDependencies(config: Config, logger: Logger = createLogger({ silent: true })): Promise<RenderDependencies> {
  const credentials = await meshCredentialsOf(config, logger);
  return {
    credentials,
    controlPlane: credentials,
    resolver: systemResolver,
    installScript: loadInstallScript(),
    artifactsDir: resolveDataPath(config, config.artifactsDir),
    tokenLifetimeSeconds: Math.round(durationToMs(config.mesh.tokenLifetime) / 1000),
    now: Date.now,
  };
}

async function createNotifier(config: Config, logger: Logger): Promise<Notifier | undefined> {
  const webhook = config.notify.webhook;
  if (webhook === undefined) return undefined;
  return new WebhookNotifier({ url: webhook.url, secret: await readHmacSecret(webhook.secretFile), deadlineMs: durationToMs(webhook.deadline), logger });
}

function observeJobs(metrics: ServiceMetrics, announcer: FailureAnnouncer | undefined): ConstructorParameters<typeof JobRunner>[0]['events'] {
  return {
    onTransition: (event) => {
      metrics.jobTransitions.inc({ kind: event.job.kind, to: event.to });
      announcer?.onTransition(event);
    },
    onStepFinished: (event) => {
      metrics.stepDuration.observe({ step: event.stepName, outcome: event.outcome }, event.durationMs / 1000);
      if (event.outcome === 'retrying') metrics.stepRetries.inc({ step: event.stepName, code: event.error?.code ?? 'unknown' });
    },
  };
}

interface Engine {
  service: InjectionService;
  runner: JobRunner;
  /** The routes the enabled capabilities add to the HTTP API. */
  routes: CapabilityRoutes;
  /** Rejects while the job store does not answer (a shared database that is down). */
  storeReady(): Promise<void>;
  close(): Promise<void>;
}

type CapabilityRoutes = Pick<AppDependencies, 'tackerCallbacks' | 'tackerMgmt' | 'orchestrator' | 'orchestratorEvents' | 'orchestratorTackerCallbacks'>;

/**
 * The composition table. The core capability (VM injection: render, SSH delivery, mesh registry,
 * job runner, HTTP API), notifications and certificate renewal are always on; each capability
 * below is a module saying what it needs and which steps and routes it adds, and is imported
 * only when the config enables it, so a disabled one loads none of its code.
 */
const CAPABILITIES = {
  /** Tacker notifications and the mgmt hook → lcm-event jobs (src/composition/tacker-plugin-capability.ts). */
  tackerPlugin: { isEnabled: (config: Config) => config.tacker !== undefined && config.openstack !== undefined, load: () => import('./composition/tacker-plugin-capability.js') },
  /** Service descriptors → Tacker VNFs, Kubernetes objects, Istio traffic (src/composition/orchestrator-capability.ts). */
  orchestrator: { isEnabled: (config: Config) => config.orchestrator !== undefined, load: () => import('./composition/orchestrator-capability.js') },
} as const;

async function loadCapability<M>(capability: { isEnabled: (config: Config) => boolean; load: () => Promise<M> }, config: Config): Promise<M | undefined> {
  return capability.isEnabled(config) ? capability.load() : undefined;
}

/** Tacker's API, found in the Keystone catalog (service type nfv-orchestration). */
export async function tackerClientFor(config: Config, logger: Logger, apiVersion: TackerApiVersion): Promise<TackerClient> {
  if (config.openstack === undefined) throw new AppError('INVALID_CONFIG', 'Reaching Tacker needs openstack (Keystone) settings in the config.');
  const { TackerClient } = await import('./tacker/tacker-client.js');
  const clients = await openstackClients(config.openstack, logger);
  return TackerClient.fromCatalog(clients.keystone, { apiVersion });
}

async function vmJobSteps(config: Config, logger: Logger, metrics: ServiceMetrics, notifier: Notifier | undefined): Promise<StepDefinitions> {
  const shell = new Ssh2VmShell({
    secrets: new FileSecretResolver({ secretsDir: resolveDataPath(config, config.ssh.secretsDir) }),
    hostKeys: new FileHostKeyStore(resolveDataPath(config, config.ssh.knownHosts)),
  });
  return createInjectionSteps({
    render: await renderDependencies(config, logger),
    shell,
    delivery: sshBundleDelivery,
    registry: await meshRegistryOf(config, logger),
    ...(notifier === undefined ? {} : { notifier }),
    remoteBundleDir: config.ssh.remoteBundleDir,
    connectDeadlineMs: durationToMs(config.jobs.connectDeadline),
    commandTimeoutMs: durationToMs(config.jobs.commandTimeout),
    notifyDeadlineMs: config.notify.webhook === undefined ? 0 : durationToMs(config.notify.webhook.deadline),
    istioCa: istioCaSettings(config, logger),
    clock: systemClock,
    observeSshConnect: (seconds, outcome) => metrics.sshConnectDuration.observe({ outcome }, seconds),
  });
}

function istioCaSettings(config: Config, logger: Logger): IstioCaSettings {
  const { istioCa } = config.mesh;
  return {
    ...(istioCa.address === undefined ? {} : { address: istioCa.address }),
    ...(istioCa.servername === undefined ? {} : { servername: istioCa.servername }),
    validitySeconds: Math.round(durationToMs(istioCa.certificateValidity) / 1000),
    callTimeoutMs: durationToMs(istioCa.callTimeout),
    logger,
    connect: (connection) => new IstioCaClient(connection),
  };
}

function notificationSteps(config: Config, store: JobStore, notifier: Notifier | undefined): StepDefinitions {
  if (notifier === undefined) return {};
  return { notification: createNotificationSteps({ store, notifier, clock: systemClock, deadlineMs: durationToMs(config.notify.webhook?.deadline ?? '10m') }) };
}

/** The enabled capabilities, loaded, and what they contribute before the runner exists. */
interface LoadedCapabilities {
  tacker?: Awaited<ReturnType<(typeof CAPABILITIES)['tackerPlugin']['load']>>;
  orchestrator?: Awaited<ReturnType<(typeof CAPABILITIES)['orchestrator']['load']>>;
  tackerWiring?: TackerWiring;
  orchestratorParts?: OrchestratorParts;
}

async function loadCapabilities(config: Config, logger: Logger, stores: OpenedStores, late: LateParts): Promise<LoadedCapabilities> {
  const store = stores.jobs;
  const tacker = await loadCapability(CAPABILITIES.tackerPlugin, config);
  const orchestrator = await loadCapability(CAPABILITIES.orchestrator, config);
  // The Tacker steps submit jobs through the service that the runner they belong to serves.
  const tackerWiring = await tacker?.tackerWiring(config, logger, store, () => {
    if (late.service === undefined) throw notReady('injection service');
    return late.service;
  });
  const orchestratorParts = await orchestrator?.orchestratorParts(config, stores, tackerWiring, { late, logger });
  return { ...optional('tacker', tacker), ...optional('orchestrator', orchestrator), ...optional('tackerWiring', tackerWiring), ...optional('orchestratorParts', orchestratorParts) };
}

function capabilitySteps(loaded: LoadedCapabilities): StepDefinitions {
  return { ...(loaded.tackerWiring === undefined ? {} : { 'lcm-event': loaded.tackerWiring.steps }), ...(loaded.orchestratorParts?.steps ?? {}) };
}

async function capabilityRoutes(loaded: LoadedCapabilities, running: { config: Config; logger: Logger; plugin: TackerPlugin | undefined; orchestrator: OrchestratorWiring | undefined }): Promise<CapabilityRoutes> {
  const tackerRoutes = loaded.tacker === undefined ? {} : await loaded.tacker.tackerRouters(running.config, running.logger, running.plugin);
  const orchestratorRoutes = running.orchestrator === undefined ? {} : ((await loaded.orchestrator?.orchestratorRoutes(running.orchestrator, running.config, running.logger)) ?? {});
  return { ...tackerRoutes, ...orchestratorRoutes };
}

async function startEngine(config: Config, logger: Logger, metrics: ServiceMetrics): Promise<Engine> {
  const stores = await openJobStore(config);
  const store = stores.jobs;
  const notifier = await createNotifier(config, logger);
  const late: LateParts = {};
  const loaded = await loadCapabilities(config, logger, stores, late);
  const allSteps = { ...(await vmJobSteps(config, logger, metrics, notifier)), ...notificationSteps(config, store, notifier), ...capabilitySteps(loaded) };
  const announcer: FailureAnnouncer | undefined = notifier === undefined ? undefined : new FailureAnnouncer({ runner: (): JobRunner => runner, store, logger });
  const runner: JobRunner = new JobRunner({ store, steps: allSteps, clock: systemClock, logger, concurrency: config.jobs.concurrency, stopGraceMs: STOP_GRACE_MS, events: observeJobs(metrics, announcer) });
  const service: InjectionService = new InjectionService({ runner, store });
  late.service = service;
  const plugin = loaded.tackerWiring === undefined ? undefined : loaded.tacker?.startTackerPlugin(loaded.tackerWiring, runner, store);
  late.plugin = plugin;
  metrics.trackJobStates(store);
  await runner.start();
  const recovered = await announcer?.recover();
  if (recovered !== undefined && recovered > 0) logger.info('Failure notifications created after a restart', { count: recovered });
  const renewal = startRenewal(config, logger, stores, service);
  const orchestrator = loaded.orchestrator?.orchestratorWiring(loaded.orchestratorParts, runner, store);
  return {
    service,
    runner,
    routes: await capabilityRoutes(loaded, { config, logger, plugin, orchestrator }),
    storeReady: () => stores.ping(),
    close: async () => {
      await renewal.stop();
      await runner.stop();
      await stores.close();
    },
  };
}

/** Certificate renewal: re-onboards VMs whose istio-ca certificate nears its end. */
function startRenewal(config: Config, logger: Logger, stores: OpenedStores, service: InjectionService): CertificateRenewal {
  const renewal = new CertificateRenewal({
    store: stores.jobs,
    reonboard: (jobId) => service.reonboard(jobId),
    clock: systemClock,
    renewBeforeMs: durationToMs(config.mesh.istioCa.renewBefore),
    intervalMs: durationToMs(config.mesh.istioCa.renewCheckInterval),
    logger,
    // On a shared store, one replica at a time sweeps, so a certificate is re-issued once.
    exclusive: (sweep) => stores.exclusive('certificateRenewal', sweep),
  });
  renewal.start();
  return renewal;
}

/** The SDK is imported only when configured: with tracing off, the @opentelemetry/api calls stay no-ops. */
async function startTracingIfConfigured(config: Config, logger: Logger): Promise<{ shutdown(): Promise<void> } | undefined> {
  if (config.telemetry.tracing === undefined) return undefined;
  const { startTracing } = await import('./telemetry/tracing-sdk.js');
  return startTracing(config.telemetry.tracing, logger);
}

export async function startService(config: Config, logger: Logger): Promise<RunningService> {
  await checkConfiguredUrls(config);
  const tracing = await startTracingIfConfigured(config, logger);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const { tokens, generatedFile } = await loadApiTokens(config);
  const metrics = createServiceMetrics();
  const engine = await startEngine(config, logger, metrics);
  const app = createApp({
    ...engine.routes,
    config,
    logger,
    metrics,
    render: await renderDependencies(config, logger),
    injections: engine.service,
    apiTokens: tokens,
    readinessChecks: [dataDirWritable(config.dataDir), { name: 'store', check: () => engine.storeReady() }],
  });
  const http = await startHttpServer(app, config.http, logger);
  const url = http.url;
  logger.info('Service listening', { url, authMode: config.http.auth.mode, generatedTokenFile: generatedFile });
  return {
    url,
    close: async () => {
      await http.close();
      await engine.close();
      await tracing?.shutdown();
    },
  };
}
