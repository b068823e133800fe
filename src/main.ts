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
import { FailureAnnouncer, InjectionService } from './injection/injection-service.js';
import { systemClock } from './clock.js';
import { JobRunner } from './jobs/job-runner.js';
import { SqliteJobStore } from './jobs/sqlite-job-store.js';
import { registerSecret, type Logger } from './log.js';
import { FileMeshCredentials } from './mesh/file-mesh-credentials.js';
import { FileMeshRegistry } from './mesh/file-mesh-registry.js';
import type { Notifier } from './notify/notifier.js';
import { WebhookNotifier } from './notify/webhook-notifier.js';
import { loadInstallScript } from './render/injection-bundle.js';
import { systemResolver, type RenderDependencies } from './render/render-injection.js';
import { FileSecretResolver } from './secrets/file-secret-resolver.js';
import { FileHostKeyStore } from './ssh/file-host-key-store.js';
import { Ssh2VmShell } from './ssh/ssh2-vm-shell.js';

export interface RunningService {
  url: string;
  close(): Promise<void>;
}

/** How long stop() lets a running step finish before aborting it; the job resumes at next start. */
const STOP_GRACE_MS = 10_000;

/** Wiring only: concrete adapters are chosen here and nowhere else. */
export function renderDependencies(config: Config): RenderDependencies {
  const credentials = new FileMeshCredentials(resolveDataPath(config, config.mesh.credentials.dir));
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

async function createNotifier(config: Config, logger: Logger): Promise<Notifier | undefined> {
  const webhook = config.notify.webhook;
  if (webhook === undefined) return undefined;
  let raw: Buffer;
  try {
    raw = await readFile(webhook.secretFile);
  } catch (cause) {
    throw new AppError('INVALID_CONFIG', `Webhook secret file ${webhook.secretFile} cannot be read.`, { cause });
  }
  // The key is bytes, not text: only a trailing line break (an editor's) is dropped, nothing decoded.
  const secret = withoutTrailingLineBreak(raw);
  if (secret.length < 16) throw new AppError('INVALID_CONFIG', `Webhook secret in ${webhook.secretFile} is shorter than 16 bytes.`);
  registerSecret(secret.toString('utf8'));
  return new WebhookNotifier({ url: webhook.url, secret, deadlineMs: durationToMs(webhook.deadline), logger });
}

function observeJobs(metrics: ServiceMetrics, announcer: FailureAnnouncer): ConstructorParameters<typeof JobRunner>[0]['events'] {
  return {
    onTransition: (event) => {
      metrics.jobTransitions.inc({ kind: event.job.kind, to: event.to });
      announcer.onTransition(event);
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
  close(): Promise<void>;
}

async function startEngine(config: Config, logger: Logger, metrics: ServiceMetrics): Promise<Engine> {
  const store = SqliteJobStore.open({ path: resolveDataPath(config, config.jobs.database) });
  const notifier = await createNotifier(config, logger);
  const announcer = new FailureAnnouncer({ ...(notifier === undefined ? {} : { notifier }), clock: systemClock, logger });
  const shell = new Ssh2VmShell({
    secrets: new FileSecretResolver({ secretsDir: resolveDataPath(config, config.ssh.secretsDir) }),
    hostKeys: new FileHostKeyStore(resolveDataPath(config, config.ssh.knownHosts)),
  });
  const steps = createInjectionSteps({
    render: renderDependencies(config),
    shell,
    registry: new FileMeshRegistry(resolveDataPath(config, config.registry.dir)),
    ...(notifier === undefined ? {} : { notifier }),
    remoteBundleDir: config.ssh.remoteBundleDir,
    connectDeadlineMs: durationToMs(config.jobs.connectDeadline),
    commandTimeoutMs: durationToMs(config.jobs.commandTimeout),
    notifyDeadlineMs: config.notify.webhook === undefined ? 0 : durationToMs(config.notify.webhook.deadline),
    clock: systemClock,
    observeSshConnect: (seconds, outcome) => metrics.sshConnectDuration.observe({ outcome }, seconds),
  });
  const runner = new JobRunner({ store, steps, clock: systemClock, logger, concurrency: config.jobs.concurrency, stopGraceMs: STOP_GRACE_MS, events: observeJobs(metrics, announcer) });
  metrics.trackJobStates(store);
  await runner.start();
  return {
    service: new InjectionService({ runner, store }),
    runner,
    close: async () => {
      await runner.stop();
      await announcer.settle();
      await store.close();
    },
  };
}

export async function startService(config: Config, logger: Logger): Promise<RunningService> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const { tokens, generatedFile } = await loadApiTokens(config);
  const metrics = createServiceMetrics();
  const engine = await startEngine(config, logger, metrics);
  const app = createApp({
    config,
    logger,
    metrics,
    render: renderDependencies(config),
    injections: engine.service,
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
    },
  };
}

function listen(app: ReturnType<typeof createApp>, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve(server)));
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}
