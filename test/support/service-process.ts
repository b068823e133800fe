import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import type { JobView } from '../../src/injection/job-view.js';
import { appendToRunLog } from './run-log.js';
import { TEST_ROOT_CERT, makeTestToken } from './test-credentials.js';
import { PROJECT_ROOT } from './vmsi-cli.js';

export interface ServiceProcessOptions {
  /** The lab's client key: copied into the service's secrets folder as `lab-key`. */
  privateKeyPath: string;
  webhook?: { url: string; secret: Buffer; deadline: string };
  connectDeadline?: string;
  /** A fixed port, for a callback URI that must be known before the service starts. */
  port?: number;
  /** Extra top-level config sections (openstack, tacker), given the data folder their secret files go in. */
  extraConfig?: (dataDir: string) => Record<string, unknown>;
  identities?: Array<{ namespace: string; serviceAccount: string }>;
  /** jobs.concurrency (default 8). */
  jobConcurrency?: number;
  /** log.level (default debug, which the tests' run log wants). */
  logLevel?: 'debug' | 'info' | 'warn';
  /** Run the compiled service (dist/, as `npm start` does) instead of the sources through tsx. */
  fromBuild?: boolean;
  /** Extra Node options for the service, e.g. ['--cpu-prof', '--cpu-prof-dir=DIR'] to profile it. */
  nodeOptions?: string[];
}

/**
 * `vmsi serve` as a real child process on its own data folder, so tests can kill -9 it and start
 * it again on the same state, exactly as an operator's machine would see it.
 */
export class ServiceProcess {
  readonly dataDir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-service-'));
  url = '';
  private child: ChildProcess | undefined;
  private output = '';

  constructor(private readonly options: ServiceProcessOptions) {
    const credentials = path.join(this.dataDir, 'mesh-credentials');
    mkdirSync(path.join(credentials, 'mesh-config'), { recursive: true });
    writeFileSync(path.join(credentials, 'root-cert.pem'), TEST_ROOT_CERT);
    writeFileSync(path.join(credentials, 'mesh-config', 'istio.yaml'), 'defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\ntrustDomain: cluster.local\n');
    for (const { namespace, serviceAccount } of options.identities ?? [{ namespace: 'vm-ns', serviceAccount: 'vm-sa' }]) {
      mkdirSync(path.join(credentials, 'tokens', namespace), { recursive: true });
      writeFileSync(path.join(credentials, 'tokens', namespace, `${serviceAccount}.jwt`), makeTestToken(namespace, serviceAccount), { mode: 0o600 });
    }
    mkdirSync(path.join(this.dataDir, 'secrets'), { mode: 0o700 });
    copyFileSync(options.privateKeyPath, path.join(this.dataDir, 'secrets', 'lab-key'));
    writeFileSync(path.join(this.dataDir, 'config.yaml'), stringify(this.config()));
  }

  get token(): string {
    return readFileSync(path.join(this.dataDir, 'api-token'), 'utf8').trim();
  }

  /** Writes a secret the config names by file (0600, in the service's data folder). */
  writeSecretFile(name: string, value: string): string {
    const file = path.join(this.dataDir, name);
    writeFileSync(file, value, { mode: 0o600 });
    return file;
  }

  get configFile(): string {
    return path.join(this.dataDir, 'config.yaml');
  }

  private config(): Record<string, unknown> {
    const config: Record<string, unknown> = {
      dataDir: this.dataDir,
      log: { level: this.options.logLevel ?? 'debug' },
      http: { host: '127.0.0.1', port: this.options.port ?? 0 },
      jobs: { concurrency: this.options.jobConcurrency ?? 8, connectDeadline: this.options.connectDeadline ?? '40s', commandTimeout: '3m' },
    };
    Object.assign(config, this.options.extraConfig?.(this.dataDir) ?? {});
    const webhook = this.options.webhook;
    if (webhook !== undefined) {
      writeFileSync(path.join(this.dataDir, 'webhook-secret'), webhook.secret, { mode: 0o600 });
      config.notify = { webhook: { url: webhook.url, secretFile: path.join(this.dataDir, 'webhook-secret'), deadline: webhook.deadline } };
    }
    return config;
  }

  /** What the service printed since it started (its log), for assertions before the run log takes it. */
  get printed(): string {
    return this.output;
  }

  /** The service's process id once started, e.g. to meter its CPU and memory. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    const entry = this.options.fromBuild === true ? ['dist/cli/vmsi.js'] : ['--import', 'tsx', 'src/cli/vmsi.ts'];
    const child = spawn(process.execPath, [...(this.options.nodeOptions ?? []), ...entry, '--config', this.configFile, 'serve'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let seen = '';
    this.url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`vmsi serve did not start: ${seen}`)), 30_000);
      const onData = (chunk: Buffer): void => {
        seen += chunk.toString();
        this.output += chunk.toString();
        const match = /"url":"(https?:\/\/127\.0\.0\.1:\d+)"/.exec(seen);
        if (match?.[1]) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      };
      child.stderr?.on('data', onData);
      child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
      child.once('exit', (code) => reject(new Error(`vmsi serve exited with ${code}: ${seen}`)));
    });
  }

  /** SIGKILL: no shutdown hook runs, as in a crash or an OOM kill. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const child = this.child;
    // A child killed by a signal has no exit code but its signalCode: it would never exit again.
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    appendToRunLog('vmsi serve (service process)', this.output);
    this.output = '';
  }

  async remove(): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  async request<T>(method: string, route: string, body?: unknown): Promise<{ status: number; body: T }> {
    const response = await fetch(`${this.url}${route}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as T };
  }

  async waitForJob(id: string, predicate: (job: JobView) => boolean = (job) => ['succeeded', 'failed', 'failed_temp'].includes(job.state), timeoutMs = 180_000): Promise<JobView> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { body: job } = await this.request<JobView>('GET', `/v1/injections/${id}`);
      if (predicate(job)) return job;
      if (Date.now() > deadline) throw new Error(`job ${id} stuck in ${job.state}: ${JSON.stringify(job.steps)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}
