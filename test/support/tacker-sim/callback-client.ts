import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface CallbackRequest {
  url: string;
  method: 'GET' | 'POST';
  /** Sent exactly as given (besides Host and Content-Length), so each API's client can be mimicked. */
  headers: Record<string, string>;
  body?: string;
  /** No limit when undefined, as v2's notification client has none. */
  timeoutMs?: number;
}

export interface CallbackResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** requests.Timeout: the only failure v1's send loop retries. */
export class CallbackTimeoutError extends Error {
  constructor(url: string, timeoutMs: number) {
    super(`Read timed out after ${timeoutMs} ms: ${url}`);
    this.name = 'CallbackTimeoutError';
  }
}

/** requests.ConnectionError and friends: nothing answered. */
export class CallbackConnectionError extends Error {
  constructor(url: string, cause: unknown) {
    super(`Connection to ${url} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'CallbackConnectionError';
  }
}

/** One HTTP exchange with a callback or token endpoint, over node:http so that GET may carry a body as v1 sends it. */
export function sendCallback(call: CallbackRequest): Promise<CallbackResponse> {
  const url = new URL(call.url);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers: Record<string, string> = { ...call.headers };
  if (call.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(call.body));
  return new Promise((resolve, reject) => {
    const outgoing = send(url, { method: call.method, headers }, (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('error', (error) => reject(new CallbackConnectionError(call.url, error)));
      incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    if (call.timeoutMs !== undefined) {
      const timeoutMs = call.timeoutMs;
      outgoing.setTimeout(timeoutMs, () => outgoing.destroy(new CallbackTimeoutError(call.url, timeoutMs)));
    }
    outgoing.on('error', (error) => reject(error instanceof CallbackTimeoutError ? error : new CallbackConnectionError(call.url, error)));
    outgoing.end(call.body);
  });
}

export function basicAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
