import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { LabError } from './lab-error.js';

export interface PollOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Names what is awaited, for the error's details. */
  what: string;
}

/**
 * Calls `probe` until it returns a value other than undefined, or the deadline passes. A probe that
 * throws ends the wait at once: it means waiting longer cannot help (e.g. the VM's process exited).
 */
export async function pollUntil<T>(probe: () => Promise<T | undefined>, options: PollOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) {
      throw new LabError('Timed out waiting for a lab resource.', { what: options.what, timeoutMs: options.timeoutMs });
    }
    await sleep(options.intervalMs ?? 50);
  }
}

/**
 * True once something at address:port accepts a TCP connection and sends an SSH identification
 * line. An open port alone is not enough: sshd may accept before it can serve.
 */
export function hasSshBanner(address: string, port: number, attemptTimeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    let received = '';
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(attemptTimeoutMs, () => finish(false));
    socket.on('error', () => finish(false));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.startsWith('SSH-')) finish(true);
    });
    socket.on('close', () => finish(false));
  });
}
