import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AppError } from '../errors.js';
import { fingerprintOf, formatPublicKey, parsePublicKeyLine } from './host-key.js';
import type { HostKeyStore } from './host-key-store.js';

/** One token of a known_hosts-like line: no white space, and not a comment. */
const SERVER_KEY = /^[^\s#][^\s]{0,254}$/;

interface StoredLine {
  serverKey: string | undefined;
  text: string;
}

/**
 * Adapter: a known_hosts-like file, `<serverKey> <type> <base64>` per line, readable by people
 * and by `ssh-keygen -l -f`. Writes go to a temporary file that replaces the old one by rename,
 * so a crash never leaves a half-written file; writes within this process are serialized.
 * One service process owns the file: there is no lock across processes.
 */
export class FileHostKeyStore implements HostKeyStore {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly file: string) {}

  async get(serverKey: string): Promise<string | undefined> {
    checkServerKey(serverKey);
    const line = (await this.readLines()).find((entry) => entry.serverKey === serverKey);
    return line === undefined ? undefined : line.text.slice(serverKey.length).trim();
  }

  async record(serverKey: string, publicKey: string): Promise<void> {
    checkServerKey(serverKey);
    const key = parsePublicKeyLine(publicKey);
    if (key === undefined) throw new AppError('INTERNAL', 'The host key to record is not an OpenSSH public key.', { details: { serverKey } });
    await this.serialized(async () => {
      const lines = await this.readLines();
      const existing = lines.find((entry) => entry.serverKey === serverKey);
      if (existing === undefined) return this.write([...lines, { serverKey, text: `${serverKey} ${formatPublicKey(key.blob)}` }]);
      const recorded = parsePublicKeyLine(existing.text.slice(serverKey.length));
      if (recorded !== undefined && recorded.blob.equals(key.blob)) return undefined;
      throw new AppError('SSH_HOST_KEY_MISMATCH', 'A different host key is already recorded for this server.', {
        details: { serverKey, expected: recorded === undefined ? [] : [fingerprintOf(recorded.blob)], presented: fingerprintOf(key.blob) },
      });
    });
  }

  async forget(serverKey: string): Promise<void> {
    checkServerKey(serverKey);
    await this.serialized(async () => {
      const lines = await this.readLines();
      const kept = lines.filter((entry) => entry.serverKey !== serverKey);
      if (kept.length !== lines.length) await this.write(kept);
    });
  }

  private serialized<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async readLines(): Promise<StoredLine[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw storeError('The host key store could not be read.', this.file, error);
    }
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => ({ serverKey: line.startsWith('#') ? undefined : line.split(/\s+/)[0], text: line }));
  }

  private async write(lines: StoredLine[]): Promise<void> {
    const directory = dirname(this.file);
    const temporary = join(directory, `.${basename(this.file)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await mkdir(directory, { recursive: true, mode: 0o700 });
      const handle = await open(temporary, 'wx', 0o600);
      try {
        await handle.writeFile(lines.map((line) => `${line.text}\n`).join(''));
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, this.file);
    } catch (error) {
      await rm(temporary, { force: true });
      throw storeError('The host key store could not be written.', this.file, error);
    }
  }
}

function checkServerKey(serverKey: string): void {
  if (!SERVER_KEY.test(serverKey)) throw new AppError('INTERNAL', 'A server key must be one token without white space.', { details: { serverKey } });
}

function storeError(message: string, file: string, cause: unknown): AppError {
  return new AppError('INTERNAL', message, { details: { file }, cause });
}
