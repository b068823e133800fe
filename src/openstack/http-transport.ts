import { describeTransportError as describeHttpTransportError } from '../http/http-client-errors.js';
import { tracedHttp } from '../telemetry/tracing.js';
import { X509Certificate } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { AppError } from '../errors.js';

/**
 * How the OpenStack adapters speak HTTP. Without a CA bundle this is the global fetch. With one it
 * is node:https with an Agent that trusts only that bundle: Node 24's fetch takes a custom CA only
 * through an undici `dispatcher`, and the undici in node_modules (8.x, a dependency of the
 * Kubernetes client, not ours) cannot serve Node 24's built-in fetch (undici 7): its Agent rejects
 * fetch's request handler ("invalid onRequestStart method"). See docs/openstack.md.
 */
export interface HttpRequest {
  method: 'GET' | 'POST';
  url: URL;
  headers: Record<string, string>;
  body?: string;
  /** Bounds the whole exchange, body included. */
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface HttpReply {
  status: number;
  headers: Headers;
  text: string;
}

export interface HttpTransport {
  /** Rejects only when no answer arrived (connection, TLS, timeout, abort); any HTTP status resolves. */
  send(request: HttpRequest): Promise<HttpReply>;
}

export interface HttpTransportOptions {
  /** PEM certificates to trust instead of the system roots, as openstacksdk's `cacert` does. */
  caBundle?: string;
  /** Larger answers are refused: a Keystone catalog of a big cloud stays well under 1 MiB. */
  maxResponseBytes?: number;
}

const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

export function createHttpTransport(options: HttpTransportOptions = {}): HttpTransport {
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const transport = options.caBundle === undefined ? new FetchTransport(maxBytes) : new NodeHttpsTransport(checkedCaBundle(options.caBundle), maxBytes);
  return new TracedTransport(transport);
}

/** A client span per Keystone, Nova or Neutron call, with the trace context sent along. */
class TracedTransport implements HttpTransport {
  constructor(private readonly inner: HttpTransport) {}

  send(request: HttpRequest): Promise<HttpReply> {
    return tracedHttp(request.method, request.url, (traceHeaders) => this.inner.send({ ...request, headers: { ...request.headers, ...traceHeaders } }));
  }
}

/** Refuses a bundle that holds no parsable certificate at start-up rather than at the first TLS handshake. */
function checkedCaBundle(pem: string): string {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new AppError('INVALID_CONFIG', 'The OpenStack CA bundle holds no PEM certificate.');
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (cause) {
      throw new AppError('INVALID_CONFIG', `Certificate ${index + 1} of the OpenStack CA bundle cannot be parsed.`, { cause });
    }
  }
  return pem;
}

class FetchTransport implements HttpTransport {
  constructor(private readonly maxBytes: number) {}

  async send(request: HttpRequest): Promise<HttpReply> {
    const signal = exchangeSignal(request);
    const response = await fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      // OpenStack APIs do not redirect; following one would carry a password or token to wherever it points.
      redirect: 'manual',
      signal,
    });
    const text = response.body === null ? '' : await readBounded(response.body, this.maxBytes);
    return { status: response.status, headers: response.headers, text };
  }
}

class NodeHttpsTransport implements HttpTransport {
  private readonly agent: https.Agent;

  constructor(
    caBundle: string,
    private readonly maxBytes: number,
  ) {
    this.agent = new https.Agent({ ca: caBundle, keepAlive: true });
  }

  send(request: HttpRequest): Promise<HttpReply> {
    const signal = exchangeSignal(request);
    const isHttps = request.url.protocol === 'https:';
    const options: https.RequestOptions = { method: request.method, headers: request.headers, signal, ...(isHttps ? { agent: this.agent } : {}) };
    return new Promise<HttpReply>((resolve, reject) => {
      const onResponse = (response: http.IncomingMessage): void => {
        readBounded(response, this.maxBytes).then((text) => resolve({ status: response.statusCode ?? 0, headers: toHeaders(response.headers), text }), reject);
      };
      const outgoing = isHttps ? https.request(request.url, options, onResponse) : http.request(request.url, options, onResponse);
      outgoing.on('error', reject);
      outgoing.end(request.body);
    });
  }
}

function exchangeSignal(request: HttpRequest): AbortSignal {
  const timeout = AbortSignal.timeout(Math.max(1, request.timeoutMs));
  return request.signal === undefined ? timeout : AbortSignal.any([request.signal, timeout]);
}

async function readBounded(body: AsyncIterable<Uint8Array>, maxBytes: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.byteLength;
    if (total > maxBytes) throw new ResponseTooLargeError(maxBytes);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function toHeaders(raw: http.IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    else if (value !== undefined) headers.set(name, value);
  }
  return headers;
}

export class ResponseTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`The response is larger than ${maxBytes} bytes.`);
    this.name = 'ResponseTooLargeError';
  }
}

/** As every HTTP client reports it (http-client-errors.ts), plus this transport's own size limit. */
export function describeTransportError(error: unknown): string {
  if (error instanceof ResponseTooLargeError) return error.message;
  return describeHttpTransportError(error);
}
