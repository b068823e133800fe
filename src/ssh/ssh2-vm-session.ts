import path from 'node:path';
import { inSpan, SpanKind } from '../telemetry/tracing.js';
import type { Client, ClientChannel } from 'ssh2';
import { AppError } from '../errors.js';
import { buildRemoteCommand } from './remote-command.js';
import { connectionLost, runOnChannel, type ChannelRunSettings } from './ssh2-exec.js';
import type { OpenHop } from './ssh2-connection.js';
import type { ExecOptions, ExecResult, VmSession } from '../injection/vm-shell.js';

// A clean close takes a round trip; a dead peer must not hold close() up.
const CLOSE_TIMEOUT_MS = 2_000;

export class Ssh2VmSession implements VmSession {
  readonly hostKeyFingerprint: string;
  private isConnected = true;
  private isJumpConnected: boolean;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly target: OpenHop,
    private readonly jump: Client | undefined,
    private readonly settings: ChannelRunSettings,
  ) {
    this.hostKeyFingerprint = target.hostKeyFingerprint;
    this.isJumpConnected = jump !== undefined;
    target.client.once('close', () => {
      this.isConnected = false;
      jump?.end();
    });
    // The target's transport runs inside the jump connection: without it the target is gone too.
    jump?.once('close', () => {
      this.isJumpConnected = false;
      target.client.destroy();
    });
  }

  /** The span names the program only: arguments are paths and names, but nothing needs them in a trace. */
  async exec(argv: string[], options: ExecOptions): Promise<ExecResult> {
    const attributes = { 'vmsi.ssh.program': path.posix.basename(argv[0] ?? ''), 'vmsi.ssh.sudo': options.sudo === true };
    return inSpan('ssh exec', { kind: SpanKind.CLIENT, attributes }, async (span) => {
      const result = await this.execOnce(argv, options);
      span.setAttribute('process.exit.code', result.exitCode ?? -1);
      return result;
    });
  }

  private async execOnce(argv: string[], options: ExecOptions): Promise<ExecResult> {
    const command = buildRemoteCommand(argv, { sudo: options.sudo });
    if (!this.isConnected) throw connectionLost('The SSH connection is closed.');
    return new Promise<ExecResult>((resolve, reject) => {
      const started = (error: Error | undefined, channel: ClientChannel): void => {
        if (error) return reject(this.openError(error));
        // Synchronously, inside ssh2's callback: a fast command's exit status can follow in the same packet batch.
        runOnChannel(channel, this.target.client, options, this.settings).then(resolve, reject);
      };
      try {
        this.target.client.exec(command, started);
      } catch (error) {
        reject(connectionLost('The SSH connection is closed.', error));
      }
    });
  }

  /** A refused channel on a live connection (e.g. sshd's MaxSessions) is not a lost connection. */
  private openError(error: Error): AppError {
    if (!this.isConnected) return connectionLost('The SSH connection was lost before the command started.', error);
    return new AppError('REMOTE_COMMAND_FAILED', 'The SSH server refused to start the command.', {
      retryable: true,
      details: { reason: error.message },
      cause: error,
    });
  }

  close(): Promise<void> {
    const open = [this.isConnected ? this.target.client : undefined, this.isJumpConnected ? this.jump : undefined];
    this.closing ??= Promise.all(open.filter((client) => client !== undefined).map(endClient)).then(() => undefined);
    return this.closing;
  }
}

function endClient(client: Client): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.destroy();
      resolve();
    }, CLOSE_TIMEOUT_MS);
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    client.end();
  });
}
