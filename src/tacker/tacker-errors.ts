import { AppError, type ErrorCode, type FieldProblem } from '../errors.js';
import { describeTransportError, errorBodyMessage, isNotSent, isRetryableStatus, withMessage } from '../http/http-client-errors.js';

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

const RETRYABLE_STATUSES = new Set([408, 429]);

/** Tacker answers errors with ProblemDetails (`{title, status, detail}`), v1 and v2 alike. */
export function tackerProblemMessage(text: string): string | undefined {
  return errorBodyMessage(text, (body) => {
    const problem = body as { detail?: unknown; title?: unknown };
    return typeof problem.detail === 'string' && problem.detail !== '' ? problem.detail : problem.title;
  });
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
  const retryable = input.status === 401 || isRetryableStatus(input.status, { idempotent: context.idempotent });
  const details = {
    operation: context.operation,
    status: input.status,
    ...(message === undefined ? {} : { message }),
    ...(input.retryAfterMs === undefined ? {} : { retryAfterMs: input.retryAfterMs }),
  };
  return new AppError(statusCode(input.status), `Tacker answered ${context.operation} with HTTP ${input.status}${withMessage(message)}`, { retryable, details });
}

export { describeTransportError };

export function tackerTransportError(context: TackerRequestContext, error: unknown): AppError {
  const reason = describeTransportError(error);
  return new AppError(TACKER_ERROR_CODES.unavailable, `Tacker did not answer ${context.operation} (${reason}).`, {
    retryable: context.idempotent || isNotSent(reason),
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
