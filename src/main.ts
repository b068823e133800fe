import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadApiTokens } from './api/api-tokens.js';
import { createApp } from './api/app.js';
import { dataDirWritable } from './api/health-router.js';
import { createServiceMetrics } from './api/metrics.js';
import { durationToMs, resolveDataPath, type Config } from './config.js';
import type { Logger } from './log.js';
import { FileMeshCredentials } from './mesh/file-mesh-credentials.js';
import { loadInstallScript } from './render/injection-bundle.js';
import { systemResolver, type RenderDependencies } from './render/render-injection.js';

export interface RunningService {
  url: string;
  close(): Promise<void>;
}

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

export async function startService(config: Config, logger: Logger): Promise<RunningService> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const { tokens, generatedFile } = await loadApiTokens(config);
  const metrics = createServiceMetrics();
  const app = createApp({
    config,
    logger,
    metrics,
    render: renderDependencies(config),
    apiTokens: tokens,
    readinessChecks: [dataDirWritable(config.dataDir)],
  });
  const server = await listen(app, config.http.port, config.http.host);
  const { port } = server.address() as AddressInfo;
  const host = config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host;
  const url = `http://${host}:${port}`;
  logger.info('Service listening', { url, authMode: config.http.auth.mode, generatedTokenFile: generatedFile });
  return { url, close: () => closeServer(server) };
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
