import { inSpan, SpanKind } from '../telemetry/tracing.js';
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { Client, ParsedKey } from 'ssh2';
import { AppError } from '../errors.js';
import { describeSecretReference, type SecretResolver } from '../secrets/secret-resolver.js';
import { systemClock, type Clock } from '../clock.js';
import { retryUntilDeadline, type RetryPolicy } from '../retry/retry-policy.js';
import type { HostKeyStore } from './host-key-store.js';
import { HostKeyVerifier } from './host-key-verifier.js';
import { forwardThrough, openHop, type Hop, type KeepaliveSettings, type OpenHop } from './ssh2-connection.js';
import { Ssh2VmSession } from './ssh2-vm-session.js';
import type { ConnectOptions, SshEndpoint, SshTarget, VmSession, VmShell } from '../injection/vm-shell.js';

export interface Ssh2VmShellOptions {
  secrets: SecretResolver;
  hostKeys: HostKeyStore;
  /** For the known-hosts policy when it names no file; OpenSSH's defaults otherwise. */
  knownHostsFiles?: readonly string[];
  clock?: Clock;
  /** Backoff between connect attempts; the connect deadline, not a count, ends them unless maximumAttempts says otherwise. */
  retry?: RetryPolicy;
  /** Detects a silently dead peer (VM powered off, network gone) within interval × countMax. */
  keepalive?: KeepaliveSettings;
  /** Between TERM and KILL when a command times out. */
  killGraceMs?: number;
}

/** A booting VM opens sshd within seconds to a minute; a 5 s cap keeps the extra wait after it opens short. */
export const DEFAULT_CONNECT_RETRY: Readonly<RetryPolicy> = Object.freeze({
  initialIntervalMs: 500,
  backoffCoefficient: 2,
  maximumIntervalMs: 5_000,
  maximumAttempts: 0,
});

const DEFAULT_KEEPALIVE: KeepaliveSettings = { intervalMs: 10_000, countMax: 3 };
const DEFAULT_KILL_GRACE_MS = 1_000;

interface PrivateKeys {
  target: Buffer;
  jump: Buffer | undefined;
}

/** Adapter: VmShell over ssh2 (pure JavaScript; no native addon). */
export class Ssh2VmShell implements VmShell {
  private readonly verifier: HostKeyVerifier;
  private readonly clock: Clock;

  constructor(private readonly options: Ssh2VmShellOptions) {
    this.verifier = new HostKeyVerifier({ store: options.hostKeys, knownHostsFiles: options.knownHostsFiles });
    this.clock = options.clock ?? systemClock;
  }

  async connect(target: SshTarget, options: ConnectOptions): Promise<VmSession> {
    const attributes = { 'server.address': target.host, 'server.port': target.port, 'vmsi.ssh.jump': target.jumpHost !== undefined };
    return inSpan('ssh connect', { kind: SpanKind.CLIENT, attributes }, () => this.connectWithRetries(target, options));
  }

  private async connectWithRetries(target: SshTarget, options: ConnectOptions): Promise<VmSession> {
    // Keys are resolved once, before any attempt: a missing or unparsable key is not fixed by waiting.
    const keys: PrivateKeys = {
      target: await this.privateKey(target),
      jump: target.jumpHost === undefined ? undefined : await this.privateKey(target.jumpHost),
    };
    return retryUntilDeadline((attemptTimeoutMs) => this.connectOnce(target, keys, attemptTimeoutMs, options.signal), {
      deadlineMs: options.deadlineMs,
      attemptTimeoutMs: options.attemptTimeoutMs,
      clock: this.clock,
      policy: this.options.retry ?? DEFAULT_CONNECT_RETRY,
      signal: options.signal,
      abortError: connectAbortError,
      onAttempt: options.onAttempt,
    });
  }

  private async privateKey(endpoint: SshEndpoint): Promise<Buffer> {
    const key = await this.options.secrets.resolve(endpoint.privateKeyRef);
    // The types say one key; OpenSSH-format files parse to a list of one.
    const parsed = ssh2.utils.parseKey(key) as ParsedKey | ParsedKey[] | Error;
    const first: ParsedKey | Error | undefined = Array.isArray(parsed) ? parsed[0] : parsed;
    if (first === undefined || first instanceof Error || !first.isPrivateKey()) {
      // ssh2's parser messages name the problem (e.g. "encrypted key without passphrase"), never key material.
      const reason = first instanceof Error ? first.message : 'not a private key';
      throw new AppError('SECRET_UNAVAILABLE', 'The SSH private key could not be used.', {
        details: { reference: describeSecretReference(endpoint.privateKeyRef), reason },
      });
    }
    return key;
  }

  /** One attempt: jump host (if any), forward, target. Everything opened is torn down if any part fails. */
  private async connectOnce(target: SshTarget, keys: PrivateKeys, timeoutMs: number, signal: AbortSignal | undefined): Promise<VmSession> {
    const startedAt = Date.now();
    const remainingMs = (): number => Math.max(1, timeoutMs - (Date.now() - startedAt));
    const opened: Client[] = [];
    const destroyAll = (): void => opened.forEach((client) => client.destroy());
    signal?.addEventListener('abort', destroyAll, { once: true });
    try {
      const jump = await this.openJump(target, keys.jump, { remainingMs, signal }, opened);
      const sock = jump === undefined ? undefined : await forwardThrough(jump.client, target, remainingMs());
      const hop = await this.open(target, { hop: 'target', key: keys.target, timeoutMs: remainingMs(), sock, signal }, opened);
      return new Ssh2VmSession(hop, jump?.client, { killGraceMs: this.options.killGraceMs ?? DEFAULT_KILL_GRACE_MS });
    } catch (error) {
      destroyAll();
      throw error;
    } finally {
      signal?.removeEventListener('abort', destroyAll);
    }
  }

  private async openJump(target: SshTarget, key: Buffer | undefined, time: { remainingMs: () => number; signal?: AbortSignal }, opened: Client[]): Promise<OpenHop | undefined> {
    if (target.jumpHost === undefined || key === undefined) return undefined;
    return this.open(target.jumpHost, { hop: 'jump', key, timeoutMs: time.remainingMs(), signal: time.signal }, opened);
  }

  private async open(endpoint: SshEndpoint, how: OpenHow, opened: Client[]): Promise<OpenHop> {
    const check = await this.verifier.prepare(endpoint);
    if (how.signal?.aborted === true) throw connectAbortError(how.signal.reason);
    return openHop({
      endpoint,
      hop: how.hop,
      privateKey: how.key,
      check,
      timeoutMs: how.timeoutMs,
      keepalive: this.options.keepalive ?? DEFAULT_KEEPALIVE,
      sock: how.sock,
      onClient: (client) => opened.push(client),
    });
  }
}

interface OpenHow {
  hop: Hop;
  key: Buffer;
  timeoutMs: number;
  sock?: Duplex;
  signal?: AbortSignal;
}

/** A step timeout (AbortSignal.timeout) reads as STEP_TIMEOUT; any other abort as a cancelled connect. */
export function connectAbortError(reason: unknown): AppError {
  if (reason instanceof AppError) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new AppError('STEP_TIMEOUT', 'The step ran out of time while connecting.', { retryable: true, cause: reason });
  }
  return new AppError('SSH_CONNECT_FAILED', 'Connecting was cancelled.', { details: { cancelled: true }, cause: reason });
}
