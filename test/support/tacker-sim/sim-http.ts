import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';

/** One parsed request as a route handler sees it. */
export interface SimRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The raw body text; handlers parse it themselves so each API can answer malformed JSON its own way. */
  rawBody: string;
  params: Record<string, string>;
}

export interface SimResponse {
  status: number;
  headers?: Record<string, string>;
  /** Serialised as JSON unless it is a string; omitted when undefined. */
  body?: unknown;
}

export type RouteHandler = (request: SimRequest) => Promise<SimResponse> | SimResponse;

export interface Route {
  method: string;
  pattern: RegExp;
  keys: string[];
  handler: RouteHandler;
}

/** `template` uses `{name}` for one path segment, as Tacker's routes.Mapper declarations do. */
export function route(method: string, template: string, handler: RouteHandler): Route {
  const keys: string[] = [];
  const source = template.replace(/\{(\w+)\}/g, (_match, key: string) => {
    keys.push(key);
    return '([^/]+)';
  });
  return { method, pattern: new RegExp(`^${source}/?$`), keys, handler };
}

export type RouteMatch =
  | { kind: 'found'; handler: RouteHandler; params: Record<string, string> }
  | { kind: 'method-not-allowed' }
  | { kind: 'not-found' };

export function matchRoute(routes: Route[], method: string, path: string): RouteMatch {
  let pathKnown = false;
  for (const candidate of routes) {
    const match = candidate.pattern.exec(path);
    if (match === null) continue;
    pathKnown = true;
    if (candidate.method !== method) continue;
    const params: Record<string, string> = {};
    candidate.keys.forEach((key, index) => {
      params[key] = decodeURIComponent(match[index + 1] ?? '');
    });
    return { kind: 'found', handler: candidate.handler, params };
  }
  return pathKnown ? { kind: 'method-not-allowed' } : { kind: 'not-found' };
}

export async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function writeResponse(response: ServerResponse, result: SimResponse): void {
  const headers = { ...(result.headers ?? {}) };
  let payload = '';
  if (result.body !== undefined) payload = typeof result.body === 'string' ? result.body : JSON.stringify(result.body);
  headers['Content-Length'] = String(Buffer.byteLength(payload));
  response.writeHead(result.status, headers).end(payload);
}

/** The body as JSON, or undefined when it is empty; throws SyntaxError on malformed JSON. */
export function parseJsonBody(request: SimRequest): unknown {
  if (request.rawBody.trim() === '') return undefined;
  return JSON.parse(request.rawBody) as unknown;
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}
