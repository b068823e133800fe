import { createHash } from 'node:crypto';
import winston from 'winston';

/**
 * Key names whose values are secrets wherever they appear. Anchored at the end so that
 * `tokenSha256` or `tokenFile` stay visible while `token`, `apiToken`, `password` do not.
 */
const SECRET_KEY = /(password|passwd|passphrase|secret|token|authorization|privatekey|private_key|apikey|api_key|credentials?)$/i;
const JWT_LIKE = /\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*/g;
const PRIVATE_KEY_BLOCK = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g;
export const REDACTED = '[REDACTED]';

/**
 * Values registered at run time (a minted token, a resolved password) that must never be
 * written even when they show up inside free text such as remote command output. Bounded: every
 * minted token is new, and a long-running service must not grow with each one; the oldest go first
 * (tokens expire within hours, far sooner than this many injections).
 */
const knownSecrets = new Set<string>();
const MAX_KNOWN_SECRETS = 4096;

export function registerSecret(value: string): void {
  if (value.length < 8) return;
  knownSecrets.delete(value);
  knownSecrets.add(value);
  if (knownSecrets.size > MAX_KNOWN_SECRETS) {
    const oldest = knownSecrets.values().next().value;
    if (oldest !== undefined) knownSecrets.delete(oldest);
  }
}

export function forgetSecret(value: string): void {
  knownSecrets.delete(value);
}

export function redactText(text: string): string {
  let out = text.replace(PRIVATE_KEY_BLOCK, REDACTED).replace(JWT_LIKE, REDACTED);
  for (const secret of knownSecrets) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object' || depth > 12) return value;
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  if (value instanceof Error) return redactError(value);
  return redactFields(value as Record<string, unknown>, depth);
}

function redactFields(record: Record<string, unknown>, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(record)) {
    out[key] = isSecretField(key, inner) ? REDACTED : redact(inner, depth + 1);
  }
  return out;
}

function isSecretField(key: string, value: unknown): boolean {
  return SECRET_KEY.test(key) && value !== undefined && value !== null;
}

function redactError(error: Error): Record<string, unknown> {
  const code = (error as { code?: unknown }).code;
  return { name: error.name, message: redactText(error.message), ...(code === undefined ? {} : { code }) };
}

export function sha256Hex(content: string | Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}

const redactionFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    const value = info[key];
    info[key] = isSecretField(key, value) ? REDACTED : redact(value);
  }
  return info;
});

export type Logger = winston.Logger;

export interface LoggerOptions {
  level?: string;
  /** Extra sink for tests and the CLI; defaults to standard error so stdout stays machine-readable. */
  stream?: NodeJS.WritableStream;
  silent?: boolean;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] });
  return winston.createLogger({
    level: options.level ?? 'info',
    silent: options.silent ?? false,
    format: winston.format.combine(redactionFormat(), winston.format.timestamp(), winston.format.json()),
    transports: [transport],
  });
}
