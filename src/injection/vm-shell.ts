import type { Readable } from 'node:stream';
import type { AppError } from '../errors.js';
import type { HostKeyPolicy, SecretReference } from '../injection-spec.js';

/** One SSH server to log in to, with how to trust its host key. */
export interface SshEndpoint {
  host: string;
  port: number;
  user: string;
  privateKeyRef: SecretReference;
  hostKey: HostKeyPolicy;
  /** Names the server in the host key store: the Nova server id when known, else `[address]:port`. */
  serverKey: string;
}

export interface SshTarget extends SshEndpoint {
  /** Reached first; the target is then reached through it (OpenSSH ProxyJump). */
  jumpHost?: SshEndpoint;
}

export interface ConnectOptions {
  /** Absolute epoch ms: connecting keeps retrying until then while the VM boots. */
  deadlineMs: number;
  /** Bounds one attempt (TCP, handshake, authentication, and the jump host's when there is one). */
  attemptTimeoutMs: number;
  signal?: AbortSignal;
  /** Called after each attempt, with the error when it failed. */
  onAttempt?: (attempt: number, error?: AppError) => void;
}

export interface ExecOptions {
  /** Bounds the command from start to exit; on expiry it is signalled and its channel closed. */
  timeoutMs: number;
  /** Becomes the command's standard input; without it the command reads end-of-file at once. */
  stdin?: Readable;
  /** Each output line, already redacted, without its line end. */
  onLine?: (stream: 'stdout' | 'stderr', line: string) => void;
  /** Run as root through `sudo -n` (non-interactive). */
  sudo?: boolean;
}

export interface ExecResult {
  /** The command's exit status; 128 + the signal number when a signal ended it, as shells report it. */
  exitCode: number;
  /** Set when a signal ended the command, e.g. `SIGKILL`. */
  signal?: string;
}

export interface VmSession {
  /** The target's host key as verified, `SHA256:…`. */
  readonly hostKeyFingerprint: string;
  /** argv is quoted for the remote shell argument by argument; nothing is spliced. */
  exec(argv: string[], options: ExecOptions): Promise<ExecResult>;
  close(): Promise<void>;
}

/**
 * Port: a shell on a VM. Errors are AppErrors: SSH_HOST_KEY_MISMATCH and SSH_HOST_KEY_UNKNOWN
 * (never retried; nothing ran), SSH_CONNECT_FAILED and SSH_AUTH_FAILED (retried until the
 * deadline), SSH_CONNECTION_LOST and REMOTE_COMMAND_TIMEOUT (retryable by the caller).
 */
export interface VmShell {
  connect(target: SshTarget, options: ConnectOptions): Promise<VmSession>;
}
