import { createHttpTransport, describeTransportError, type HttpReply, type HttpTransport } from './http-transport.js';
import type { Identity } from './keystone-client.js';
import { DEFAULT_OPENSTACK_REQUEST_TIMEOUT_MS } from './keystone-client.js';
import { AppError } from '../errors.js';
import { OPENSTACK_ERROR_CODES, abortError, statusError, unavailableError, type RequestContext } from './openstack-errors.js';

/** How errors name a service: operators know Nova and Neutron, not `compute` and `network`. */
const SERVICE_NAMES: Record<string, string> = { compute: 'Nova', network: 'Neutron', 'nfv-orchestration': 'Tacker' };

export interface GetJsonOptions {
  /** Repeated keys for arrays, as Neutron reads `?port_id=a&port_id=b`. */
  query?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** A 2xx or 404 answer: what a 404 means (gone, or a wrong endpoint) depends on its body, so callers decide. */
export interface JsonReply {
  status: number;
  headers: Headers;
  body: unknown;
}

export interface OpenStackSessionOptions {
  identity: Identity;
  /** The Keystone client's, normally, so that one CA bundle serves every endpoint. */
  transport?: HttpTransport;
  /** Bounds one request. Default 30 seconds. */
  requestTimeoutMs?: number;
}

/**
 * Authenticated JSON reads from catalog services. Only GETs: safe to repeat, so a 401 (token
 * revoked, or expired earlier than it said) is answered once with a fresh token and the same request.
 * Other failures become AppErrors marked retryable or not; retrying them is the job runner's call.
 */
export class OpenStackSession {
  private readonly identity: Identity;
  private readonly transport: HttpTransport;
  private readonly requestTimeoutMs: number;

  constructor(options: OpenStackSessionOptions) {
    this.identity = options.identity;
    this.transport = options.transport ?? createHttpTransport();
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_OPENSTACK_REQUEST_TIMEOUT_MS;
  }

  /** `path` starts with `/` and has its variable segments already encoded with encodeURIComponent. */
  async getJson(serviceType: string, path: string, options: GetJsonOptions = {}): Promise<JsonReply> {
    const context: RequestContext = { service: SERVICE_NAMES[serviceType] ?? serviceType, operation: `GET ${path}` };
    const url = joinUrl(await this.identity.endpoint(serviceType, options), path, options.query);
    const first = await this.exchange(url, context, options);
    if (first.reply.status !== 401) return interpret(first.reply, context);
    this.identity.invalidate(first.authToken);
    const second = await this.exchange(url, context, options);
    return interpret(second.reply, context);
  }

  private async exchange(url: URL, context: RequestContext, options: GetJsonOptions): Promise<{ reply: HttpReply; authToken: string }> {
    const { authToken } = await this.identity.token(options);
    try {
      const reply = await this.transport.send({
        method: 'GET',
        url,
        headers: { accept: 'application/json', 'user-agent': 'vm-sidecar-injector', ...options.headers, 'x-auth-token': authToken },
        timeoutMs: this.requestTimeoutMs,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      return { reply, authToken };
    } catch (error) {
      if (options.signal?.aborted === true) throw abortError(options.signal, context);
      throw unavailableError(context, describeTransportError(error), error);
    }
  }
}

function interpret(reply: HttpReply, context: RequestContext): JsonReply {
  const isSuccess = reply.status >= 200 && reply.status < 300;
  if (!isSuccess && reply.status !== 404) throw statusError(context, reply.status, reply.text);
  return { status: reply.status, headers: reply.headers, body: parseJson(reply, context, isSuccess) };
}

/** A 404 body may be a proxy's HTML page; only a 2xx must be JSON. */
function parseJson(reply: HttpReply, context: RequestContext, isRequired: boolean): unknown {
  try {
    return reply.text === '' ? null : (JSON.parse(reply.text) as unknown);
  } catch (cause) {
    if (!isRequired) return null;
    throw new AppError(OPENSTACK_ERROR_CODES.unexpectedAnswer, `${context.service} answered ${context.operation} with a body that is not JSON.`, {
      details: { service: context.service, operation: context.operation, status: reply.status },
      cause,
    });
  }
}

/**
 * Catalog URLs come with and without a trailing slash, Nova's sometimes with the project id, and
 * Neutron's sometimes with `/v2.0` already; the path is appended so that none of these doubles up.
 */
export function joinUrl(base: string, path: string, query: GetJsonOptions['query'] = {}): URL {
  const trimmed = base.replace(/\/+$/, '');
  const version = /^\/v\d+(\.\d+)?(?=\/|$)/.exec(path)?.[0];
  const joined = version !== undefined && trimmed.endsWith(version) ? `${trimmed}${path.slice(version.length)}` : `${trimmed}${path}`;
  let url: URL;
  try {
    url = new URL(joined);
  } catch (cause) {
    throw new AppError(OPENSTACK_ERROR_CODES.misconfigured, 'A service catalog or override URL is not a URL.', { details: { url: base }, cause });
  }
  for (const [key, value] of Object.entries(query)) {
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(key, item);
  }
  return url;
}
