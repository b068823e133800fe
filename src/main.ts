import { mkdir, readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadApiTokens } from './api/api-tokens.js';
import { createApp } from './api/app.js';
import { dataDirWritable } from './api/health-router.js';
import { createServiceMetrics, type ServiceMetrics } from './api/metrics.js';
import { resolveDataPath, type Config } from './config.js';
import { durationToMs } from './duration.js';
import { AppError } from './errors.js';
import { createInjectionSteps } from './injection/injection-steps.js';
import type { IstioCaSettings } from './injection/workload-certificate.js';
import { CertificateRenewal } from './injection/certificate-renewal.js';
import { orchestratorEventsRouter } from './api/orchestrator-events-router.js';
import { orchestratorRouter } from './api/orchestrator-router.js';
import { SqliteInjectionEventStore, type InjectionEventStore } from './orchestrator/injection-event-store.js';
import { OrchestratorService } from './orchestrator/orchestrator-service.js';
import { createOrchestratorSteps, type OrchestratorDependencies } from './orchestrator/orchestrator-steps.js';
import { InjectionService } from './injection/injection-service.js';
import { FailureAnnouncer, createNotificationSteps } from './injection/failure-notifications.js';
import { systemClock } from './clock.js';
import { JobRunner } from './jobs/job-runner.js';
import { SqliteJobStore } from './jobs/sqlite-job-store.js';
import { createLogger, registerSecret, type Logger } from './log.js';
import { FileMeshCredentials } from './mesh/file-mesh-credentials.js';
import { FileMeshRegistry } from './mesh/file-mesh-registry.js';
import type { KubeConfig } from '@kubernetes/client-node';
import type { ControlPlaneSettingsSource, MeshCredentials } from './mesh/mesh-credentials.js';
import type { MeshRegistry } from './mesh/mesh-registry.js';
import type { Notifier } from './notify/notifier.js';
import { WebhookNotifier } from './notify/webhook-notifier.js';
import { loadInstallScript } from './render/injection-bundle.js';
import { systemResolver, type RenderDependencies } from './render/render-injection.js';
import { FileSecretResolver } from './secrets/file-secret-resolver.js';
import { FileHostKeyStore } from './ssh/file-host-key-store.js';
import { Ssh2VmShell } from './ssh/ssh2-vm-shell.js';
import type { Router } from 'express';
import type { JsonWebKey } from 'node:crypto';
import type { CallbackAuthenticator } from './api/callback-auth.js';
import { tackerCallbackRouter, tackerMgmtRouter } from './api/tacker-router.js';
import type { CallbackAuthConfig } from './config.js';
import type { InjectionSpec } from './injection-spec.js';
import { createLcmEventSteps, type TackerApiVersion, type TackerPluginDependencies } from './injection/lcm-event-steps.js';
import { TackerPlugin } from './injection/tacker-plugin.js';
import type { JobStore } from './jobs/job-store.js';
import type { StepDefinition, StepDefinitions } from './jobs/step-definition.js';
import { createOpenStackClients } from './openstack/openstack-config.js';
import { TackerClient } from './tacker/tacker-client.js';
import type { CallbackAuthentication } from './tacker/subscription-request.js';

export interface RunningService {
  url: string;
  close(): Promise<void>;
}

/** How long stop() lets a running step finish before aborting it; the job resumes at next start. */
const STOP_GRACE_MS = 10_000;

/**
 * One KubeConfig for every Kubernetes adapter. The client library is loaded only when the config
 * asks for it: it costs about half a second at every start of the CLI otherwise.
 */
async function kubeConfigOf(config: Config): Promise<KubeConfig> {
  const kubernetes = config.kubernetes;
  if (kubernetes === undefined) throw new AppError('INVALID_CONFIG', 'The kubernetes section is missing.');
  const { loadKubeConfig } = await import('./mesh/kubernetes/kube-config.js');
  if (kubernetes.inCluster) return loadKubeConfig({ kind: 'in-cluster' });
  return loadKubeConfig({ kind: 'kubeconfig', file: kubernetes.kubeconfig ?? '', ...(kubernetes.context === undefined ? {} : { context: kubernetes.context }) });
}

async function meshCredentialsOf(config: Config, logger: Logger): Promise<MeshCredentials & ControlPlaneSettingsSource> {
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

function withoutTrailingLineBreak(bytes: Buffer): Buffer {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  return bytes.subarray(0, end);
}

/** `{ key: value }` when the value is there, `{}` otherwise: optional fields under exactOptionalPropertyTypes. */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** The webhook HMAC key: bytes, not text; only a trailing line break (an editor's) is dropped. */
async function readHmacSecret(file: string): Promise<Buffer> {
  let raw: Buffer;
  try {
    raw = await readFile(file);
  } catch (cause) {
    throw new AppError('INVALID_CONFIG', `Webhook secret file ${file} cannot be read.`, { cause });
  }
  const secret = withoutTrailingLineBreak(raw);
  if (secret.length < 16) throw new AppError('INVALID_CONFIG', `Webhook secret in ${file} is shorter than 16 bytes.`);
  registerSecret(secret.toString('utf8'));
  return secret;
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
  tacker?: TackerPlugin;
  orchestrator?: OrchestratorWiring;
  close(): Promise<void>;
}

interface OrchestratorWiring {
  service: OrchestratorService;
  events: InjectionEventStore;
  eventSecret: Buffer;
}

async function readSecretFile(file: string, what: string): Promise<string> {
  try {
    const value = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
    registerSecret(value);
    return value;
  } catch (cause) {
    throw new AppError('INVALID_CONFIG', `${what} file ${file} cannot be read.`, { cause });
  }
}

async function callbackAuthenticator(auth: CallbackAuthConfig): Promise<CallbackAuthenticator> {
  switch (auth.kind) {
    case 'none':
      return { kind: 'none' };
    case 'basic':
      return { kind: 'basic', username: auth.username, password: await readSecretFile(auth.passwordFile, 'Callback password') };
    case 'oauth2-introspection':
      return { kind: 'oauth2-introspection', introspectionUrl: auth.introspectionUrl, clientId: auth.clientId, clientSecret: await readSecretFile(auth.clientSecretFile, 'Introspection client secret') };
    case 'oauth2-jwks': {
      const jwks = JSON.parse(await readFile(auth.jwksFile, 'utf8')) as { keys?: JsonWebKey[] };
      return { kind: 'oauth2-jwks', keys: jwks.keys ?? [], ...(auth.issuer === undefined ? {} : { issuer: auth.issuer }), ...(auth.audience === undefined ? {} : { audience: auth.audience }) };
    }
  }
}

/** A succeeded lcm-event of the VNF that carried meshSidecar: Scale and Heal requests do not repeat it. */
async function earlierMeshParameters(store: JobStore, vnfInstanceId: string): Promise<unknown> {
  const events = await store.list({ kind: 'lcm-event', subjectKey: `vnf:${vnfInstanceId}`, state: 'succeeded', limit: 100 });
  for (const event of events) {
    const output = event.steps[0]?.output;
    if (output !== null && typeof output === 'object' && !Array.isArray(output) && output.meshSidecar !== null && output.meshSidecar !== undefined) return output.meshSidecar;
  }
  return undefined;
}

/** Injected VMs of the VNF without a removal since: what the mesh holds of it. */
async function injectedMembers(store: JobStore, vnfInstanceId: string): Promise<Array<{ serverId: string; vduId: string }>> {
  const members = new Map<string, { serverId: string; vduId: string; at: number }>();
  for (const job of await store.list({ kind: 'inject', state: 'succeeded', limit: 1000 })) {
    const context = job.input.context;
    if (context === null || typeof context !== 'object' || Array.isArray(context) || context.vnfInstanceId !== vnfInstanceId) continue;
    members.set(job.subjectKey, { serverId: job.subjectKey, vduId: typeof context.vduId === 'string' ? context.vduId : '', at: job.createdAt });
  }
  for (const member of [...members.values()]) {
    const [removal] = await store.list({ kind: 'remove', subjectKey: member.serverId, limit: 1 });
    if (removal !== undefined && removal.createdAt > member.at) members.delete(member.serverId);
  }
  return [...members.values()].map(({ serverId, vduId }) => ({ serverId, vduId }));
}

interface TackerWiring {
  deps: TackerPluginDependencies;
  steps: StepDefinition[];
}

type OpenStackClients = ReturnType<typeof createOpenStackClients>;

async function openstackClients(openstack: NonNullable<Config['openstack']>, logger: Logger): Promise<OpenStackClients> {
  const secret = await readSecretFile(openstack.auth.method === 'password' ? openstack.auth.passwordFile : openstack.auth.secretFile, 'OpenStack credential');
  const caBundle = openstack.caBundleFile === undefined ? undefined : await readFile(openstack.caBundleFile, 'utf8');
  return createOpenStackClients(openstack, { secret, ...(caBundle === undefined ? {} : { caBundle }) }, { logger, clock: systemClock });
}

/** Tacker's API, found in the Keystone catalog (service type nfv-orchestration). */
export async function tackerClientFor(config: Config, logger: Logger, apiVersion: TackerApiVersion): Promise<TackerClient> {
  if (config.openstack === undefined) throw new AppError('INVALID_CONFIG', 'Reaching Tacker needs openstack (Keystone) settings in the config.');
  const clients = await openstackClients(config.openstack, logger);
  const baseUrl = await clients.keystone.endpoint('nfv-orchestration');
  return new TackerClient({ baseUrl, apiVersion, token: async () => (await clients.keystone.token()).authToken });
}

async function tackerWiring(config: Config, logger: Logger, store: JobStore, service: () => InjectionService): Promise<TackerWiring | undefined> {
  const tacker = config.tacker;
  const openstack = config.openstack;
  if (tacker === undefined || openstack === undefined) return undefined;
  const clients = await openstackClients(openstack, logger);
  const tackerClients = new Map<TackerApiVersion, Promise<TackerClient>>();
  const tackerClient = (apiVersion: TackerApiVersion): Promise<TackerClient> => {
    let client = tackerClients.get(apiVersion);
    if (client === undefined) {
      client = clients.keystone.endpoint('nfv-orchestration').then((baseUrl) => new TackerClient({ baseUrl, apiVersion, token: async () => (await clients.keystone.token()).authToken }));
      client.catch(() => tackerClients.delete(apiVersion));
      tackerClients.set(apiVersion, client);
    }
    return client;
  };
  const deps: TackerPluginDependencies = {
    tacker: tackerClient,
    servers: clients.servers,
    submit: (kind, spec: InjectionSpec, key, context) => service().submit(kind, spec, key, context),
    injectedSpec: (serverId) => service().injectedSpec(serverId),
    earlierMeshParameters: (vnfInstanceId) => earlierMeshParameters(store, vnfInstanceId),
    injectedMembers: (vnfInstanceId) => injectedMembers(store, vnfInstanceId),
    config: tacker,
    addressPreference: openstack.serverAddress,
    activeTimeoutMs: durationToMs(openstack.activeTimeout),
    clock: systemClock,
  };
  return { deps, steps: createLcmEventSteps(deps) };
}

async function vmJobSteps(config: Config, logger: Logger, metrics: ServiceMetrics, notifier: Notifier | undefined): Promise<StepDefinitions> {
  const shell = new Ssh2VmShell({
    secrets: new FileSecretResolver({ secretsDir: resolveDataPath(config, config.ssh.secretsDir) }),
    hostKeys: new FileHostKeyStore(resolveDataPath(config, config.ssh.knownHosts)),
  });
  return createInjectionSteps({
    render: await renderDependencies(config, logger),
    shell,
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
  };
}

interface OrchestratorParts {
  deps: OrchestratorDependencies;
  steps: StepDefinitions;
  events: InjectionEventStore;
  eventSecret: Buffer;
}

/** What the injector is doing for a server, in one line for the orchestrator's progress messages. */
async function injectionProgress(store: JobStore, serverId: string): Promise<string | undefined> {
  const [job] = await store.list({ kind: 'inject', subjectKey: serverId, limit: 1 });
  if (job === undefined) return undefined;
  const step = job.steps.find((candidate) => candidate.state === 'running' || candidate.state === 'failed' || candidate.state === 'pending');
  const error = job.lastError === null ? '' : `: ${job.lastError.message}`;
  return `injection job ${job.id} ${job.state}${step === undefined ? '' : ` at step ${step.name}`}${error}`;
}

/** Parts made after the runner they run in; jobs resumed at start may reach them only once they exist. */
interface LateParts {
  service?: InjectionService;
  plugin?: TackerPlugin;
}

function notReady(what: string): AppError {
  return new AppError('INTERNAL', `The ${what} is not ready yet.`, { retryable: true });
}

/**
 * A failed injection, run again for a re-run deployment: a failed_temp job is retried (it holds its
 * VM, so a new job would only queue behind it), a failed one re-onboarded, one already under way left alone.
 */
async function reinject(store: JobStore, injection: InjectionService, request: { failedJobId: string; idempotencyKey: string }): Promise<boolean> {
  const job = await store.get(request.failedJobId);
  if (job?.state === 'failed_temp') {
    await injection.retry(request.failedJobId);
    return true;
  }
  if (job?.state !== 'failed') return false;
  return (await injection.reonboard(request.failedJobId, request.idempotencyKey)).created;
}

async function orchestratorParts(config: Config, store: JobStore, tacker: TackerWiring | undefined, late: LateParts): Promise<OrchestratorParts | undefined> {
  const injection = (): InjectionService => {
    if (late.service === undefined) throw notReady('injection service');
    return late.service;
  };
  const orchestrator = config.orchestrator;
  if (orchestrator === undefined) return undefined;
  const secretFile = orchestrator.eventSecretFile ?? config.notify.webhook?.secretFile;
  if (secretFile === undefined) throw new AppError('INVALID_CONFIG', 'The orchestrator needs orchestrator.eventSecretFile (or notify.webhook.secretFile) to check the injector events it receives.');
  const { KubernetesClusterObjects } = await import('./orchestrator/kubernetes-cluster-objects.js');
  const events = SqliteInjectionEventStore.open(resolveDataPath(config, orchestrator.database));
  const deps: OrchestratorDependencies = {
    cluster: new KubernetesClusterObjects({ kubeConfig: await kubeConfigOf(config), requestTimeoutMs: durationToMs(config.kubernetes?.requestTimeout ?? '30s') }),
    tacker: async () => {
      if (tacker === undefined) throw new AppError('INVALID_CONFIG', 'VM microservices need the tacker and openstack sections: the orchestrator creates VNFs through Tacker.');
      return tacker.deps.tacker('v2');
    },
    events,
    reinject: (failedJobId, idempotencyKey) => reinject(store, injection(), { failedJobId, idempotencyKey }),
    ...optional(
      'reconcileTacker',
      tacker === undefined
        ? undefined
        : async (sinceIso: string): Promise<void> => {
            if (late.plugin === undefined) throw notReady('Tacker plugin');
            await late.plugin.reconcile('v2', sinceIso);
          },
    ),
    injectionProgress: (serverId) => injectionProgress(store, serverId),
    clock: systemClock,
    trustDomain: orchestrator.trustDomain,
    timing: {
      pollIntervalMs: durationToMs(orchestrator.pollInterval),
      operationTimeoutMs: durationToMs(orchestrator.operationTimeout),
      injectionTimeoutMs: durationToMs(orchestrator.injectionTimeout),
      readyTimeoutMs: durationToMs(orchestrator.readyTimeout),
    },
  };
  return { deps, steps: createOrchestratorSteps(deps), events, eventSecret: await readHmacSecret(secretFile) };
}

function orchestratorWiring(parts: OrchestratorParts | undefined, runner: JobRunner, store: JobStore): OrchestratorWiring | undefined {
  if (parts === undefined) return undefined;
  const service = new OrchestratorService({
    runner,
    store,
    cluster: parts.deps.cluster,
    tacker: parts.deps.tacker,
    events: parts.events,
    trustDomain: parts.deps.trustDomain,
    injectionJob: async (serverId) => {
      const [job] = await store.list({ kind: 'inject', subjectKey: serverId, limit: 1 });
      const step = job?.steps.find((candidate) => candidate.state === 'running' || candidate.state === 'failed');
      return job === undefined ? undefined : { id: job.id, state: job.state, ...(step === undefined ? {} : { step: step.name }) };
    },
  });
  return { service, events: parts.events, eventSecret: parts.eventSecret };
}

function notificationSteps(config: Config, store: JobStore, notifier: Notifier | undefined): StepDefinitions {
  if (notifier === undefined) return {};
  return { notification: createNotificationSteps({ store, notifier, clock: systemClock, deadlineMs: durationToMs(config.notify.webhook?.deadline ?? '10m') }) };
}

async function startEngine(config: Config, logger: Logger, metrics: ServiceMetrics): Promise<Engine> {
  const store = SqliteJobStore.open({ path: resolveDataPath(config, config.jobs.database) });
  const notifier = await createNotifier(config, logger);
  // The Tacker steps submit jobs through the service that the runner they belong to serves.
  const late: LateParts = {};
  const tacker = await tackerWiring(config, logger, store, () => {
    if (late.service === undefined) throw notReady('injection service');
    return late.service;
  });
  const orchestrator = await orchestratorParts(config, store, tacker, late);
  const allSteps = {
    ...(await vmJobSteps(config, logger, metrics, notifier)),
    ...notificationSteps(config, store, notifier),
    ...(tacker === undefined ? {} : { 'lcm-event': tacker.steps }),
    ...(orchestrator?.steps ?? {}),
  };
  const announcer: FailureAnnouncer | undefined = notifier === undefined ? undefined : new FailureAnnouncer({ runner: (): JobRunner => runner, store, logger });
  const runner: JobRunner = new JobRunner({ store, steps: allSteps, clock: systemClock, logger, concurrency: config.jobs.concurrency, stopGraceMs: STOP_GRACE_MS, events: observeJobs(metrics, announcer) });
  const service: InjectionService = new InjectionService({ runner, store });
  late.service = service;
  const plugin = tacker === undefined ? undefined : new TackerPlugin({ runner, store, deps: tacker.deps });
  late.plugin = plugin;
  metrics.trackJobStates(store);
  await runner.start();
  const recovered = await announcer?.recover();
  if (recovered !== undefined && recovered > 0) logger.info('Failure notifications created after a restart', { count: recovered });
  const renewal = new CertificateRenewal({
    store,
    reonboard: (jobId) => service.reonboard(jobId),
    clock: systemClock,
    renewBeforeMs: durationToMs(config.mesh.istioCa.renewBefore),
    intervalMs: durationToMs(config.mesh.istioCa.renewCheckInterval),
    logger,
  });
  renewal.start();
  return {
    service,
    runner,
    ...optional('tacker', plugin),
    ...optional('orchestrator', orchestratorWiring(orchestrator, runner, store)),
    close: async () => {
      await renewal.stop();
      await runner.stop();
      await store.close();
      await orchestrator?.events.close();
    },
  };
}

async function tackerRouters(config: Config, logger: Logger, plugin: TackerPlugin | undefined): Promise<{ tackerCallbacks?: Router; tackerMgmt?: Router }> {
  if (plugin === undefined || config.tacker === undefined) return {};
  const byApi = {
    v1: await callbackAuthenticator(config.tacker.callbackAuthByApi.v1 ?? config.tacker.callbackAuth),
    v2: await callbackAuthenticator(config.tacker.callbackAuthByApi.v2 ?? config.tacker.callbackAuth),
  };
  return {
    tackerCallbacks: tackerCallbackRouter({ plugin, apiVersions: config.tacker.apiVersions, auth: (apiVersion) => byApi[apiVersion], bodyLimitBytes: config.http.bodyLimitBytes, logger }),
    tackerMgmt: tackerMgmtRouter(plugin),
  };
}

/** What Tacker must send when it calls back, as the subscription states it (secrets read from their files). */
export async function subscriptionAuthentication(config: Config, apiVersion: TackerApiVersion): Promise<CallbackAuthentication> {
  const tacker = config.tacker;
  if (tacker === undefined) throw new AppError('INVALID_CONFIG', 'The config has no tacker section.');
  const auth = tacker.callbackAuthByApi[apiVersion] ?? tacker.callbackAuth;
  if (auth.kind === 'none') return { type: 'none' };
  if (auth.kind === 'basic') return { type: 'basic', username: auth.username, password: await readSecretFile(auth.passwordFile, 'Callback password') };
  if (tacker.oauth2 === undefined) throw new AppError('INVALID_CONFIG', 'OAuth2 callbacks need tacker.oauth2 (token endpoint and client credentials for Tacker).');
  return { type: 'oauth2', clientId: tacker.oauth2.clientId, clientSecret: await readSecretFile(tacker.oauth2.clientSecretFile, 'OAuth2 client secret'), tokenEndpoint: tacker.oauth2.tokenEndpoint };
}

/** The SDK is imported only when configured: with tracing off, the @opentelemetry/api calls stay no-ops. */
async function startTracingIfConfigured(config: Config, logger: Logger): Promise<{ shutdown(): Promise<void> } | undefined> {
  if (config.telemetry.tracing === undefined) return undefined;
  const { startTracing } = await import('./telemetry/tracing-sdk.js');
  return startTracing(config.telemetry.tracing, logger);
}

export async function startService(config: Config, logger: Logger): Promise<RunningService> {
  const tracing = await startTracingIfConfigured(config, logger);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const { tokens, generatedFile } = await loadApiTokens(config);
  const metrics = createServiceMetrics();
  const engine = await startEngine(config, logger, metrics);
  const tackerRoutes = await tackerRouters(config, logger, engine.tacker);
  const app = createApp({
    ...tackerRoutes,
    config,
    logger,
    metrics,
    render: await renderDependencies(config, logger),
    injections: engine.service,
    ...optional('orchestrator', engine.orchestrator === undefined ? undefined : orchestratorRouter(engine.orchestrator.service)),
    ...optional(
      'orchestratorEvents',
      engine.orchestrator === undefined
        ? undefined
        : orchestratorEventsRouter({ events: engine.orchestrator.events, secret: engine.orchestrator.eventSecret, bodyLimitBytes: config.http.bodyLimitBytes, now: Date.now, logger }),
    ),
    apiTokens: tokens,
    readinessChecks: [dataDirWritable(config.dataDir)],
  });
  const server = await listen(app, config.http.port, config.http.host);
  const { port } = server.address() as AddressInfo;
  const host = config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host;
  const url = `http://${host}:${port}`;
  logger.info('Service listening', { url, authMode: config.http.auth.mode, generatedTokenFile: generatedFile });
  return {
    url,
    close: async () => {
      await closeServer(server);
      await engine.close();
      await tracing?.shutdown();
    },
  };
}

function listen(app: ReturnType<typeof createApp>, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, (error?: Error) => (error ? reject(listenError(error, host, port)) : resolve(server)));
  });
}

function listenError(error: Error, host: string, port: number): AppError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new AppError('INVALID_CONFIG', `Port ${port} on ${host} is already in use; choose another with http.port or VMSI_HTTP_PORT.`, { cause: error });
  if (code === 'EACCES') return new AppError('INVALID_CONFIG', `Listening on ${host}:${port} is not permitted for this user.`, { cause: error });
  if (code === 'EADDRNOTAVAIL') return new AppError('INVALID_CONFIG', `${host} is not an address of this machine; fix http.host.`, { cause: error });
  return new AppError('INTERNAL', `The service could not listen on ${host}:${port}.`, { cause: error });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}
