import { constants } from 'node:os';
import type { Client, ClientChannel } from 'ssh2';
import { AppError, toAppError } from '../errors.js';
import { redactText } from '../log.js';
import { LineSplitter } from './line-splitter.js';
import type { ExecOptions, ExecResult } from '../injection/vm-shell.js';

export interface ChannelRunSettings {
  /** Between TERM and KILL on a timeout: long enough for sudo to pass TERM on to the command. */
  killGraceMs: number;
}

/**
 * Drives one exec channel to its end: streams output line by line, enforces the timeout, and tells
 * a finished command (exit status received) from a lost connection (gone without one).
 *
 * The channel's own 'close' events are not used: Node emits one as soon as both directions have
 * ended, which over a slow path (a jump host) comes before the exit status the server sends after
 * its EOF. So a run ends when both output streams have ended and the exit status is in, or when the
 * connection closes.
 */
export function runOnChannel(channel: ClientChannel, connection: Client, options: ExecOptions, settings: ChannelRunSettings): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    new ChannelRun({ channel, connection }, options, settings, { resolve, reject }).start();
  });
}

interface Settle {
  resolve: (result: ExecResult) => void;
  reject: (error: AppError) => void;
}

class ChannelRun {
  private readonly stdout = new LineSplitter();
  private readonly stderr = new LineSplitter();
  private exit: ExecResult | undefined;
  private openStreams = 2;
  private hasTimedOut = false;
  private isSettled = false;
  private timer: NodeJS.Timeout | undefined;
  // ssh2 emits the connection's 'close' before it ends the channels' streams: let their last lines out first.
  private readonly onConnectionClosed = (): void => void setImmediate(() => this.finish());

  private readonly channel: ClientChannel;
  private readonly connection: Client;

  constructor(
    io: { channel: ClientChannel; connection: Client },
    private readonly options: ExecOptions,
    private readonly settings: ChannelRunSettings,
    private readonly settle: Settle,
  ) {
    this.channel = io.channel;
    this.connection = io.connection;
  }

  start(): void {
    const { channel } = this;
    channel.on('data', (chunk: Buffer) => this.emit('stdout', this.stdout.push(chunk)));
    channel.stderr.on('data', (chunk: Buffer) => this.emit('stderr', this.stderr.push(chunk)));
    channel.once('exit', (code: number | null, signal?: string) => {
      this.exit = exitResult(code, signal);
      this.finishWhenComplete();
    });
    channel.once('end', () => this.streamEnded('stdout'));
    channel.stderr.once('end', () => this.streamEnded('stderr'));
    // Writing stdin into a channel the command already closed errors here; the exit status still decides.
    channel.on('error', () => undefined);
    this.connection.once('close', this.onConnectionClosed);
    this.timer = setTimeout(() => this.timeOut(), this.options.timeoutMs);
    this.feedStdin();
  }

  private feedStdin(): void {
    const stdin = this.options.stdin;
    if (stdin === undefined) {
      this.channel.end();
      return;
    }
    stdin.on('error', (error) => {
      this.channel.close();
      this.finish(toAppError(error));
    });
    stdin.pipe(this.channel);
  }

  private emit(stream: 'stdout' | 'stderr', lines: string[]): void {
    if (this.isSettled || this.options.onLine === undefined) return;
    for (const line of lines) this.options.onLine(stream, redactText(line));
  }

  private streamEnded(stream: 'stdout' | 'stderr'): void {
    this.emit(stream, (stream === 'stdout' ? this.stdout : this.stderr).end());
    this.openStreams -= 1;
    this.finishWhenComplete();
  }

  private finishWhenComplete(): void {
    if (this.openStreams === 0 && this.exit !== undefined) this.finish();
  }

  /** TERM first, because sudo relays it to the command it runs; KILL and close if it is still there after the grace. */
  private timeOut(): void {
    this.hasTimedOut = true;
    sendSignal(this.channel, 'TERM');
    this.timer = setTimeout(() => {
      sendSignal(this.channel, 'KILL');
      this.channel.close();
      this.finish();
    }, this.settings.killGraceMs);
  }

  private finish(error?: AppError): void {
    if (this.isSettled) return;
    this.isSettled = true;
    clearTimeout(this.timer);
    this.connection.removeListener('close', this.onConnectionClosed);
    this.options.stdin?.unpipe(this.channel);
    if (error !== undefined) this.settle.reject(error);
    else if (this.hasTimedOut) this.settle.reject(timeoutError(this.options.timeoutMs));
    else if (this.exit !== undefined) this.settle.resolve(this.exit);
    else this.settle.reject(connectionLost('The connection ended before the command reported its exit status.'));
  }
}

function exitResult(code: number | null, signal: string | undefined): ExecResult {
  if (code !== null) return { exitCode: code };
  const name = signal ?? 'SIGKILL';
  const number = (constants.signals as Record<string, number | undefined>)[name] ?? 0;
  return { exitCode: 128 + number, signal: name };
}

/**
 * ssh2's public Channel.signal() does nothing once our side has sent EOF, which every command
 * without stdin does at once; the protocol call underneath (ssh2 1.17, pinned) has no such limit.
 * OpenSSH delivers it with killpg() to the session's process group (sshd 8.1 and later).
 */
function sendSignal(channel: ClientChannel, name: 'TERM' | 'KILL'): void {
  const internals = channel as unknown as {
    outgoing?: { id: number; state: string };
    _client?: { _protocol?: { signal(id: number, signal: string): void } };
  };
  const outgoing = internals.outgoing;
  if (outgoing === undefined || (outgoing.state !== 'open' && outgoing.state !== 'eof')) return;
  internals._client?._protocol?.signal(outgoing.id, name);
}

function timeoutError(timeoutMs: number): AppError {
  return new AppError('REMOTE_COMMAND_TIMEOUT', 'The remote command did not finish in time.', { retryable: true, details: { timeoutMs } });
}

export function connectionLost(message: string, cause?: unknown): AppError {
  return new AppError('SSH_CONNECTION_LOST', message, { retryable: true, cause });
}
