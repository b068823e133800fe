import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { registerSecret } from '../log.js';
import type { ApiToken } from './authentication.js';

export const GENERATED_TOKEN_FILE = 'api-token';

/**
 * Secure by default without setup: when no token is configured, one admin token is generated once
 * into the data folder (0600) and reused, like Jupyter's. Its path is logged, never its value.
 */
export async function loadApiTokens(config: Config): Promise<{ tokens: ApiToken[]; generatedFile?: string }> {
  if (config.http.auth.mode === 'none') return { tokens: [] };
  if (config.http.auth.tokens.length > 0) {
    const tokens = await Promise.all(config.http.auth.tokens.map(async (entry) => ({ name: entry.name, scopes: entry.scopes, token: await readTokenFile(entry.file) })));
    for (const token of tokens) registerSecret(token.token);
    return { tokens };
  }
  const file = path.resolve(config.dataDir, GENERATED_TOKEN_FILE);
  const token = await readOrCreateToken(file);
  registerSecret(token);
  return { tokens: [{ name: 'generated-admin', token, scopes: ['read', 'write', 'secrets'] }], generatedFile: file };
}

async function readTokenFile(file: string): Promise<string> {
  let token: string;
  try {
    token = (await readFile(file, 'utf8')).trim();
  } catch (cause) {
    throw new AppError('INVALID_CONFIG', `API token file ${file} cannot be read.`, { cause });
  }
  if (token.length < 16) throw new AppError('INVALID_CONFIG', `API token in ${file} is shorter than 16 characters.`);
  return token;
}

async function readOrCreateToken(file: string): Promise<string> {
  try {
    return await readTokenFile(file);
  } catch {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const token = randomBytes(32).toString('base64url');
    await writeFile(file, `${token}\n`, { mode: 0o600, flag: 'w' });
    return token;
  }
}
