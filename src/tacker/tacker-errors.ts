import { AppError, type ErrorCode, type FieldProblem } from '../errors.js';
import { redactText } from '../log.js';

/**
 * Every error code the Tacker adapter uses, chosen in one place. errors.ts has no Tacker codes yet;
 * these are the nearest existing ones, and the comments name the codes proposed for them.
 */
export const TACKER_ERROR_CODES = {
  /** Keystone's token was refused (401/403). */
  credentialsRejected: 'CREDENTIALS_UNAVAILABLE',
  /** No usable answer (5xx, 429, connection, timeout). Proposed: TACKER_UNAVAILABLE. */
  unavailable: 'SERVICE_UNREACHABLE',
  notFound: 'NOT_FOUND',
  conflict: 'CONFLICT',
  /** Tacker refused the request (400, 422), e.g. its test GET of a subscription's callbackUri failed. Proposed: TACKER_REJECTED. */
  refused: 'INVALID_REQUEST',
  /** An answer that is not what the published API returns. Proposed: TACKER_UNEXPECTED_ANSWER. */
  unexpectedAnswer: 'INTERNAL',
} as const satisfies Record<string, ErrorCode>;

export interface TackerRequestContext {
  /** Method and path template, e.g. `GET /vnflcm/v2/vnf_lcm_op_occs/{id}`; never a token or a query. */
  operation: string;
  /** GET and DELETE may be repeated; a repeated POST could create a second subscription. */
  idempotent: boolean;
}

/** undici's rule for idempotent requests; a POST is repeated only when the server cannot have acted on it. */
const RETRYABLE_STATUSES = new Set([408, 429]);
const UNPROCESSED_STATUSES = new Set([408, 429, 503]);
/** Errors raised before the request left this host. */
const NOT_SENT_ERRORS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const MAX_MESSAGE_CHARS = 300;

function isRetryableStatus(status: number, idempotent: boolean): boolean {
  if (!idempotent) return UNPROCESSED_STATUSES.has(status);
  return RETRYABLE_STATUSES.has(status) || status >= 500;
}

/** Tacker answers errors with ProblemDetails (`{title, status, detail}`), v1 and v2 alike. */
export function tackerProblemMessage(text: string): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  const problem = (typeof body === 'object' && body !== null ? body : {}) as { detail?: unknown; title?: unknown };
  const message = typeof problem.detail === 'string' && problem.detail !== '' ? problem.detail : problem.title;
  return typeof message === 'string' && message !== '' ? redactText(message.slice(0, MAX_MESSAGE_CHARS)) : undefined;
}

function statusCode(status: number): ErrorCode {
  if (status === 401 || status === 403) return TACKER_ERROR_CODES.credentialsRejected;
  if (status === 404) return TACKER_ERROR_CODES.notFound;
  if (status === 409) return TACKER_ERROR_CODES.conflict;
  if (status === 400 || status === 422) return TACKER_ERROR_CODES.refused;
  return status >= 500 || RETRYABLE_STATUSES.has(status) ? TACKER_ERROR_CODES.unavailable : TACKER_ERROR_CODES.unexpectedAnswer;
}

export interface StatusErrorInput {
  status: number;
  bodyText: string;
  retryAfterMs?: number;
}

export function tackerStatusError(context: TackerRequestContext, input: StatusErrorInput): AppError {
  const message = tackerProblemMessage(input.bodyText);
  // A 401 may be an expired token: the provider mints a fresh one for the next attempt.
  const retryable = input.status === 401 || isRetryableStatus(input.status, context.idempotent);
  const details = {
    operation: context.operation,
    status: input.status,
    ...(message === undefined ? {} : { message }),
    ...(input.retryAfterMs === undefined ? {} : { retryAfterMs: input.retryAfterMs }),
  };
  const suffix = message === undefined ? '.' : `: ${message.replace(/\.$/, '')}.`;
  return new AppError(statusCode(input.status), `Tacker answered ${context.operation} with HTTP ${input.status}${suffix}`, { retryable, details });
}

/** What an operator needs from a failed exchange: the errno (ECONNREFUSED, …) fetch hides in `cause`, or "timeout". */
export function describeTransportError(error: unknown): string {
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError') return 'timeout';
  const cause = (error as { cause?: unknown } | null)?.cause;
  const code = (cause as { code?: unknown } | null)?.code ?? (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  if (cause instanceof Error) return cause.message;
  return error instanceof Error ? error.message : 'unknown error';
}

export function tackerTransportError(context: TackerRequestContext, error: unknown): AppError {
  const reason = describeTransportError(error);
  return new AppError(TACKER_ERROR_CODES.unavailable, `Tacker did not answer ${context.operation} (${reason}).`, {
    retryable: context.idempotent || NOT_SENT_ERRORS.has(reason),
    details: { operation: context.operation, reason },
    cause: error,
  });
}

export function tackerAnswerError(context: TackerRequestContext, reason: string, problems: FieldProblem[] = []): AppError {
  return new AppError(TACKER_ERROR_CODES.unexpectedAnswer, `Tacker answered ${context.operation} unexpectedly: ${reason}`, {
    problems,
    details: { operation: context.operation },
  });
}
