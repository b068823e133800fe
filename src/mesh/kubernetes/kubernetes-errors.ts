import { isRetryableStatus } from '../../http/http-client-errors.js';
import { parseRetryAfter } from '../../retry/retry-policy.js';
import { ApiException } from '@kubernetes/client-node';
import { AppError, type ErrorCode, type FieldProblem } from '../../errors.js';
import { redactText } from '../../log.js';
import { inSpan, SpanKind } from '../../telemetry/tracing.js';

/**
 * The one place where Kubernetes API failures become AppErrors. Every call the adapters make is
 * safe to repeat (GET, DELETE, server-side apply, create-if-absent, TokenRequest), so retryable
 * follows the status alone: 409 (someone else wrote first), 429, 5xx and connection failures are
 * worth another attempt; 403, 404, 400 and 422 will answer the same again.
 */

export interface KubernetesOperation {
  /** What was asked, e.g. `apply WorkloadEntry ns/name`; never a token. */
  operation: string;
  /** The code for failures that are the request's own (404, 400, 422 and anything unexpected). */
  code: 'REGISTRY_FAILED' | 'CREDENTIALS_UNAVAILABLE';
}

/** The parts of a Kubernetes `Status` object the errors carry. */
export interface KubernetesStatusSummary {
  status: number;
  reason?: string;
  message?: string;
  causes: FieldProblem[];
}

const MAX_MESSAGE_CHARS = 500;

export function isApiStatus(error: unknown, status: number): boolean {
  return isApiException(error) && error.code === status;
}

/** The Status object of an API answer: client-node keeps the body as text. */
/**
 * client-node ships a CommonJS and an ES module build; a process that loads both (a CommonJS
 * caller beside the service's ES modules, as test runners do) has two ApiException classes, so the
 * class is recognised by its shape as well as by instanceof.
 */
function isApiException(error: unknown): error is ApiException<unknown> {
  if (error instanceof ApiException) return true;
  return error instanceof Error && error.constructor.name === 'ApiException' && typeof (error as { code?: unknown }).code === 'number';
}

export function statusOf(error: ApiException<unknown>): KubernetesStatusSummary {
  let body: unknown = error.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      body = undefined;
    }
  }
  const status = (typeof body === 'object' && body !== null ? body : {}) as { reason?: unknown; message?: unknown; details?: { causes?: unknown } };
  const causes = Array.isArray(status.details?.causes) ? (status.details.causes as { field?: unknown; message?: unknown }[]) : [];
  return {
    status: error.code,
    ...(typeof status.reason === 'string' ? { reason: status.reason } : {}),
    ...(typeof status.message === 'string' ? { message: redactText(status.message.slice(0, MAX_MESSAGE_CHARS)) } : {}),
    causes: causes.map((cause) => ({ path: typeof cause.field === 'string' ? cause.field : '', message: redactText(typeof cause.message === 'string' ? cause.message : '') })),
  };
}

function codeFor(status: number, fallback: ErrorCode): ErrorCode {
  if (status === 403) return 'FORBIDDEN';
  if (status === 409) return 'CONFLICT';
  if (status === 401) return 'CREDENTIALS_UNAVAILABLE';
  if (status === 429 || status >= 500) return 'SERVICE_UNREACHABLE';
  return fallback;
}

function retryAfterMs(headers: Record<string, string> | undefined): number | undefined {
  return parseRetryAfter(headers?.['retry-after'], Date.now());
}

/** undici's fetch rejects with `TypeError: fetch failed` (cause: ECONNREFUSED, UND_ERR_SOCKET, …) or an abort. */
function isTransportFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (error instanceof TypeError && error.message === 'fetch failed') || error.name === 'AbortError' || error.name === 'TimeoutError';
}

function transportError(error: unknown, context: KubernetesOperation): AppError {
  if (!isTransportFailure(error)) {
    // Raised before anything was sent (kubeconfig, credentials plugin): another attempt changes nothing.
    return new AppError(context.code, `Cannot send ${context.operation} to the Kubernetes API.`, { cause: error, details: { operation: context.operation } });
  }
  return new AppError('SERVICE_UNREACHABLE', `The Kubernetes API did not answer ${context.operation}.`, {
    cause: error,
    retryable: true,
    details: { operation: context.operation },
  });
}

/** Converts whatever a client-node call threw; AppErrors pass through unchanged. */
export function toKubernetesError(error: unknown, context: KubernetesOperation): AppError {
  if (error instanceof AppError) return error;
  if (!isApiException(error)) return transportError(error, context);
  const summary = statusOf(error);
  const delayMs = retryAfterMs(error.headers);
  // A 401 may be a rotated in-cluster token: client-node reads the token file again next time.
  // 409: someone else wrote first; every call here is safe to repeat, so undici's idempotent rule covers the rest.
  const retryable = isRetryableStatus(summary.status) || summary.status === 409 || summary.status === 401;
  const suffix = summary.message === undefined ? '.' : `: ${summary.message}`;
  return new AppError(codeFor(summary.status, context.code), `Kubernetes answered ${context.operation} with HTTP ${summary.status}${suffix}`, {
    retryable,
    problems: summary.causes,
    details: {
      operation: context.operation,
      status: summary.status,
      ...(summary.reason === undefined ? {} : { reason: summary.reason }),
      ...(summary.message === undefined ? {} : { message: summary.message }),
      ...(delayMs === undefined ? {} : { retryAfterMs: delayMs }),
    },
  });
}

/** Runs one API call and converts its failure at this edge. */
export async function callKubernetes<T>(context: KubernetesOperation, call: () => Promise<T>): Promise<T> {
  // One client span per API call, named by verb and kind (the object's name goes in an attribute).
  const name = `kubernetes ${context.operation.split(' ').slice(0, 2).join(' ')}`;
  return inSpan(name, { kind: SpanKind.CLIENT, attributes: { 'k8s.operation': context.operation } }, async (span) => {
    try {
      return await call();
    } catch (error) {
      const converted = toKubernetesError(error, context);
      if (typeof converted.details.status === 'number') span.setAttribute('http.response.status_code', converted.details.status);
      throw converted;
    }
  });
}
