import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { Client, ConnectConfig, HostVerifier, ServerHostKeyAlgorithm } from 'ssh2';
import { AppError, isAppError, toAppError } from '../errors.js';
import { redactText } from '../log.js';
import { fingerprintOf } from './host-key.js';
import type { HostKeyCheck } from './host-key-verifier.js';
import type { SshEndpoint } from '../injection/vm-shell.js';

export type Hop = 'target' | 'jump';

export interface KeepaliveSettings {
  intervalMs: number;
  countMax: number;
}

export interface OpenHopParams {
  endpoint: SshEndpoint;
  hop: Hop;
  privateKey: Buffer;
  check: HostKeyCheck;
  /** Bounds TCP connect, handshake and authentication. */
  timeoutMs: number;
  keepalive: KeepaliveSettings;
  /** A channel through the jump host; absent for a direct TCP connection. */
  sock?: Duplex;
  /** Receives the client as soon as it exists, so a caller can destroy it on abort or when a later hop fails. */
  onClient?: (client: Client) => void;
}

export interface OpenHop {
  client: Client;
  hostKeyFingerprint: string;
}

// Socket errors reported by name in the error details; all of them mean "not reachable yet".
const TRANSIENT_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND']);

/**
 * Opens one authenticated SSH connection. The host key is verified in ssh2's hostVerifier, which
 * runs during key exchange, before authentication: on a mismatch the private key is never offered
 * and no channel can be opened. Every failure becomes an AppError.
 */
export function openHop(params: OpenHopParams): Promise<OpenHop> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    params.onClient?.(client);
    let hostKeyError: AppError | undefined;
    let hostKeyFingerprint = '';
    let settled = false;
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      client.destroy();
      reject(toConnectError(hostKeyError ?? error, params));
    };
    // Stays attached for the connection's life: an 'error' without a listener would crash the process.
    client.on('error', fail);
    client.once('close', () => fail(new Error('The connection closed before it was ready.')));
    client.once('ready', () => {
      settled = true;
      resolve({ client, hostKeyFingerprint });
    });
    const hostVerifier = (presented: Buffer, verify: (isValid: boolean) => void): void => {
      hostKeyFingerprint = fingerprintOf(presented);
      // Through a promise chain so that even a synchronous throw denies the key: fail closed.
      Promise.resolve(presented).then((key) => params.check.verify(key)).then(
        () => verify(true),
        (error: unknown) => {
          hostKeyError = toAppError(error);
          verify(false);
        },
      );
    };
    try {
      client.connect(connectConfig(params, hostVerifier));
    } catch (error) {
      fail(error);
    }
  });
}

function connectConfig(params: OpenHopParams, hostVerifier: HostVerifier): ConnectConfig {
  return {
    host: params.endpoint.host,
    port: params.endpoint.port,
    username: params.endpoint.user,
    privateKey: params.privateKey,
    ...(params.sock === undefined ? {} : { sock: params.sock }),
    readyTimeout: params.timeoutMs,
    keepaliveInterval: params.keepalive.intervalMs,
    keepaliveCountMax: params.keepalive.countMax,
    algorithms: { serverHostKey: params.check.hostKeyAlgorithms as ServerHostKeyAlgorithm[] },
    hostVerifier,
    // Only the key we were given: no agent, no passwords, no keyboard-interactive prompts.
    authHandler: ['publickey'],
  };
}

interface Ssh2Error {
  level?: string;
  code?: unknown;
  message?: string;
}

export function toConnectError(error: unknown, params: { endpoint: SshEndpoint; hop: Hop }): AppError {
  if (isAppError(error)) return error;
  const { level, code, message } = (error ?? {}) as Ssh2Error;
  const { endpoint, hop } = params;
  const details = { host: endpoint.host, port: endpoint.port, hop, reason: redactText(String(message ?? error)) };
  // Job records keep only the message: it must name the server, so an operator knows which VM to look at.
  const where = `${endpoint.user}@${endpoint.host}:${endpoint.port}${hop === 'jump' ? ' (jump host)' : ''}`;
  if (level === 'client-authentication') {
    // Cloud-init may not have installed the key yet; the connect deadline bounds how long that is believed.
    return new AppError('SSH_AUTH_FAILED', `The SSH server ${where} did not accept the key.`, { retryable: true, details, cause: error });
  }
  const failure = failureKind(level, code);
  return new AppError('SSH_CONNECT_FAILED', `SSH to ${where} could not be established (${failure}).`, {
    retryable: true,
    details: { ...details, failure },
    cause: error,
  });
}

/**
 * Everything short of a host key or authentication verdict is retried until the deadline: a booting
 * VM refuses, resets, or stalls mid-handshake while sshd starts, and the deadline bounds the cost.
 */
function failureKind(level: string | undefined, code: unknown): string {
  if (typeof code === 'string' && TRANSIENT_SOCKET_CODES.has(code)) return code;
  return level === 'client-timeout' ? 'timeout' : 'handshake';
}

/** Opens a direct-tcpip channel from the jump host to the target: the transport for the target's SSH connection. */
export function forwardThrough(jump: Client, target: SshEndpoint, timeoutMs: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(toConnectError(Object.assign(new Error('The jump host did not open the forward in time.'), { level: 'client-timeout' }), { endpoint: target, hop: 'target' })), timeoutMs);
    jump.forwardOut('127.0.0.1', 0, target.host, target.port, (error, stream) => {
      clearTimeout(timer);
      if (error === undefined || error === null) resolve(stream);
      else reject(forwardError(error, target));
    });
  });
}

/** SSH_OPEN_ADMINISTRATIVELY_PROHIBITED (1): the bastion forbids forwarding; retrying cannot help. */
function forwardError(error: Error & { reason?: unknown }, target: SshEndpoint): AppError {
  const details = { host: target.host, port: target.port, hop: 'target', via: 'jump', reason: error.message };
  if (error.reason === 1) {
    return new AppError('SSH_CONNECT_FAILED', 'The jump host does not allow forwarding to the target.', { retryable: false, details, cause: error });
  }
  return new AppError('SSH_CONNECT_FAILED', 'The jump host could not reach the target.', { retryable: true, details, cause: error });
}
