import { redactText } from '../log.js';

/**
 * What every HTTP client adapter (OpenStack, Tacker, Kubernetes, the webhook) needs to turn a
 * failed exchange into an AppError: which statuses say "try again", what an operator reads of a
 * transport failure, and the server's own message, bounded and redacted because errors end up in
 * job records and logs. Each adapter keeps only its own table of codes.
 */

/** undici's rule for idempotent requests: these statuses and every 5xx say "try again later". */
const RETRYABLE_STATUSES = new Set([408, 429]);
/** A request that is not idempotent is repeated only when the server cannot have acted on it. */
const UNPROCESSED_STATUSES = new Set([408, 429, 503]);
/** Errors raised before the request left this host, so even a POST may be sent again. */
const NOT_SENT_ERRORS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export function isRetryableStatus(status: number, options: { idempotent: boolean } = { idempotent: true }): boolean {
  if (!options.idempotent) return UNPROCESSED_STATUSES.has(status);
  return RETRYABLE_STATUSES.has(status) || status >= 500;
}

/** True for a transport failure (see describeTransportError) that happened before anything was sent. */
export function isNotSent(reason: string): boolean {
  return NOT_SENT_ERRORS.has(reason);
}

/**
 * What an operator needs from a failed exchange: "timeout", or the errno (ECONNREFUSED,
 * DEPTH_ZERO_SELF_SIGNED_CERT, …) that fetch hides in `cause` and node:https puts on the error.
 */
export function describeTransportError(error: unknown): string {
  if (isTimeout(error)) return 'timeout';
  const own = (error as { code?: unknown } | null)?.code;
  if (typeof own === 'string') return own;
  const cause = (error as { cause?: unknown } | null)?.cause;
  const code = (cause as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  if (cause instanceof Error) return cause.message;
  return error instanceof Error ? error.message : 'unknown error';
}

/** fetch rejects with the timeout itself; node:https wraps it in an AbortError whose cause it is. */
function isTimeout(error: unknown): boolean {
  const named = (value: unknown): string | undefined => (value as { name?: unknown } | null)?.name as string | undefined;
  return named(error) === 'TimeoutError' || named((error as { cause?: unknown } | null)?.cause) === 'TimeoutError';
}

/**
 * The human message in a JSON error body, found by `pick` (each API nests it its own way), cut to
 * `maxChars` and redacted; undefined when the body is not JSON or carries none.
 */
export function errorBodyMessage(text: string, pick: (body: object) => unknown, maxChars = 300): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null) return undefined;
  const message = pick(body);
  return typeof message === 'string' && message !== '' ? redactText(message.slice(0, maxChars)) : undefined;
}

/** A sentence ending: ": <the server's message>." or "." when it sent none. */
export function withMessage(message: string | undefined): string {
  return message === undefined ? '.' : `: ${message.replace(/\.$/, '')}.`;
}
