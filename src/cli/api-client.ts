import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { AppError, type ErrorCode } from '../errors.js';
import { GENERATED_TOKEN_FILE } from '../api/api-tokens.js';

export interface ApiClientOptions {
  url?: string;
  tokenFile?: string;
}

/** Speaks to a running `vmsi serve`; answers problem details become AppErrors with their code. */
export class ApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  async request<T>(method: string, route: string, body?: { contentType: string; text: string }, headers: Record<string, string> = {}): Promise<T> {
    let response: Response;
    try {
      response = await fetch(new URL(route, this.baseUrl), {
        method,
        headers: { authorization: `Bearer ${this.token}`, accept: 'application/json', ...(body ? { 'content-type': body.contentType } : {}), ...headers },
        ...(body ? { body: body.text } : {}),
      });
    } catch (cause) {
      throw new AppError('SERVICE_UNREACHABLE', `The service at ${this.baseUrl} does not answer; is vmsi serve running?`, { cause, retryable: true });
    }
    const payload: unknown = await response.json().catch(() => ({}));
    if (!response.ok) throw problemToError(response.status, payload);
    return payload as T;
  }
}

function problemToError(status: number, payload: unknown): AppError {
  const problem = (payload ?? {}) as { code?: ErrorCode; detail?: string; problems?: Array<{ path: string; message: string }>; retryable?: boolean };
  return new AppError(problem.code ?? 'INTERNAL', problem.detail ?? `The service answered HTTP ${status}.`, {
    problems: problem.problems ?? [],
    retryable: problem.retryable ?? false,
  });
}

export function addApiOptions(command: Command): Command {
  return command
    .option('--url <url>', 'service URL (default: from the config, http://127.0.0.1:8080)')
    .option('--token-file <file>', 'API token file (default: <dataDir>/api-token)');
}

export async function apiClientFor(program: Command, options: ApiClientOptions): Promise<ApiClient> {
  const config = loadConfig({ file: program.opts<{ config?: string }>().config });
  const host = config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host;
  const url = options.url ?? `http://${host.includes(':') ? `[${host}]` : host}:${config.http.port}`;
  const tokenFile = options.tokenFile ?? path.resolve(config.dataDir, GENERATED_TOKEN_FILE);
  let token: string;
  try {
    token = (await readFile(tokenFile, 'utf8')).trim();
  } catch (cause) {
    throw new AppError('INVALID_CONFIG', `API token file ${tokenFile} cannot be read; pass --token-file.`, { cause });
  }
  return new ApiClient(url, token);
}
