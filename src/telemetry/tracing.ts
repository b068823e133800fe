import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import type { RequestHandler } from 'express';
import { toAppError } from '../errors.js';

/**
 * The instrumentation side: only @opentelemetry/api, whose calls do nothing until tracing-sdk.ts
 * registers a provider. So with tracing off no SDK is loaded, and every call here is a no-op.
 */
const TRACER_NAME = 'vm-sidecar-injector';
const tracer = (): ReturnType<typeof trace.getTracer> => trace.getTracer(TRACER_NAME);

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** A W3C traceparent to continue (a job's, stored at intake); null starts a new trace; absent uses the active span. */
  parent?: string | null;
}

function parentContext(parent: string | null | undefined): ReturnType<typeof context.active> {
  if (parent === undefined) return context.active();
  if (parent === null) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent: parent });
}

/** Failures are recorded by their stable code only: messages may name hosts or users, never a secret, but codes are enough. */
export function markFailed(span: Span, error: unknown): void {
  const code = toAppError(error).code;
  span.setAttribute('error.type', code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: code });
}

/** Runs `work` in a new active span, ended when it settles. */
export async function inSpan<T>(name: string, options: SpanOptions, work: (span: Span) => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, ...(options.attributes === undefined ? {} : { attributes: options.attributes }) }, parentContext(options.parent), async (span) => {
    try {
      return await work(span);
    } catch (error) {
      markFailed(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** The active span as a W3C traceparent, to store on a job record; null when nothing is traced. */
export function activeTraceparent(): string | null {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ?? null;
}

/** Adds traceparent (and tracestate) for the active span to outgoing request headers. */
export function withTraceHeaders(headers: Record<string, string>): Record<string, string> {
  const carrier: Record<string, string> = { ...headers };
  propagation.inject(context.active(), carrier);
  return carrier;
}

/**
 * A client span around one outgoing HTTP exchange; `send` gets the trace headers to add. Only the
 * method, host and path are recorded: queries and headers may carry tokens.
 */
export async function tracedHttp<T extends { status: number }>(method: string, url: string | URL, send: (traceHeaders: Record<string, string>) => Promise<T>): Promise<T> {
  const target = new URL(url);
  const attributes = { 'http.request.method': method, 'server.address': target.hostname, 'server.port': Number(target.port || (target.protocol === 'https:' ? 443 : 80)), 'url.path': target.pathname };
  return inSpan(`${method} ${target.hostname}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    const reply = await send(withTraceHeaders({}));
    span.setAttribute('http.response.status_code', reply.status);
    if (reply.status >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
    return reply;
  });
}

/** One server span per request, continuing the caller's W3C trace context when it sends one. */
export function traceIncomingRequests(): RequestHandler {
  return (req, res, next) => {
    const incoming = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = tracer().startSpan(`${req.method} ${req.path}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'url.path': req.path } }, incoming);
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path;
      if (route !== undefined) span.updateName(`${req.method} ${route}`).setAttribute('http.route', route);
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.with(trace.setSpan(incoming, span), next);
  };
}

export { SpanKind };
