import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../errors.js';
import type { SecretReference } from '../injection-spec.js';
import { registerSecret } from '../log.js';
import { describeSecretReference, type SecretResolver } from './secret-resolver.js';

export interface FileSecretResolverOptions {
  /** Where `{secret: name}` references live, one file per name (a mounted Kubernetes Secret works as is). */
  secretsDir?: string;
  maxBytes?: number;
}

/** A name is one path component: no separators, no leading dot, so `..` and hidden files cannot be named. */
const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
// SSH keys and passwords are a few kilobytes; a huge file is a misconfiguration, not a secret.
const DEFAULT_MAX_BYTES = 1024 * 1024;
const PEM_BOUNDARY = /^-----(BEGIN|END) /;
// Long enough that registering a line of a key body cannot redact ordinary words in logs.
const MIN_REGISTERED_LINE = 16;

/**
 * Adapter: secrets as files. `{file}` is read as given (the operator chose it); `{secret}` is read
 * from the configured directory. Every resolved value is registered for redaction before it is returned.
 */
export class FileSecretResolver implements SecretResolver {
  private readonly maxBytes: number;

  constructor(private readonly options: FileSecretResolverOptions = {}) {
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  }

  async resolve(reference: SecretReference): Promise<Buffer> {
    const path = this.pathOf(reference);
    const content = await this.readBounded(reference, path);
    registerSecretText(content.toString('utf8'));
    return content;
  }

  private pathOf(reference: SecretReference): string {
    if ('file' in reference) return reference.file;
    if (!SECRET_NAME.test(reference.secret)) throw unavailable(reference, 'the secret name must be a single file name');
    if (this.options.secretsDir === undefined) throw unavailable(reference, 'no secrets directory is configured');
    return join(this.options.secretsDir, reference.secret);
  }

  private async readBounded(reference: SecretReference, path: string): Promise<Buffer> {
    try {
      const info = await stat(path);
      if (!info.isFile()) throw unavailable(reference, 'not a regular file');
      if (info.size > this.maxBytes) throw unavailable(reference, `larger than ${this.maxBytes} bytes`);
      const content = await readFile(path);
      if (content.length === 0) throw unavailable(reference, 'the file is empty');
      return content;
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw unavailable(reference, (error as NodeJS.ErrnoException).code ?? 'unreadable', error);
    }
  }
}

/**
 * The whole text, and each line of a PEM or OpenSSH key body, so that a key never reaches a log
 * even when something prints only part of it.
 */
export function registerSecretText(text: string): void {
  registerSecret(text);
  registerSecret(text.trim());
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed.length >= MIN_REGISTERED_LINE && !PEM_BOUNDARY.test(trimmed)) registerSecret(trimmed);
  }
}

function unavailable(reference: SecretReference, reason: string, cause?: unknown): AppError {
  return new AppError('SECRET_UNAVAILABLE', `The secret ${describeSecretReference(reference)} could not be read.`, {
    details: { reference: describeSecretReference(reference), reason },
    cause,
  });
}
