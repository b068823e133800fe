import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { AppError, ERROR_CODES, toAppError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';

/** The only place that knows HTTP status codes. */
const STATUS_BY_CODE: Record<ErrorCode, number> = {
  INVALID_SPEC: 400,
  INVALID_CONFIG: 400,
  INVALID_REQUEST: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  NOT_FOUND: 404,
  UNSUPPORTED_MEDIA_TYPE: 415,
  PAYLOAD_TOO_LARGE: 413,
  USER_DATA_TOO_LARGE: 422,
  GATEWAY_UNRESOLVED: 422,
  MESH_INCONSISTENT: 422,
  CREDENTIALS_UNAVAILABLE: 503,
  PACKAGE_UNAVAILABLE: 422,
  SECRET_UNAVAILABLE: 422,
  SSH_CONNECT_FAILED: 502,
  SSH_AUTH_FAILED: 502,
  SSH_HOST_KEY_MISMATCH: 502,
  SSH_HOST_KEY_UNKNOWN: 502,
  SSH_CONNECTION_LOST: 502,
  REMOTE_COMMAND_FAILED: 502,
  REMOTE_COMMAND_TIMEOUT: 504,
  STEP_TIMEOUT: 504,
  SIDECAR_NOT_READY: 502,
  REGISTRY_FAILED: 502,
  NOTIFICATION_FAILED: 502,
  INJECTION_FAILED: 502,
  DEPLOYMENT_WAITING: 503,
  CONFLICT: 409,
  SERVICE_UNREACHABLE: 503,
  INTERNAL: 500,
};

const TITLE_BY_STATUS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** RFC 7807 / ETSI SOL 013 ProblemDetails, with the stable error code and per-field problems as extensions. */
export const problemDetailsSchema = z
  .object({
    type: z.url(),
    title: z.string(),
    status: z.number().int().min(400).max(599),
    detail: z.string(),
    instance: z.string().optional(),
    code: z.enum(ERROR_CODES),
    retryable: z.boolean(),
    problems: z.array(z.object({ path: z.string(), message: z.string() })).optional().meta({ description: 'Every invalid field, not only the first.' }),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ id: 'ProblemDetails' });
export type ProblemDetails = z.infer<typeof problemDetailsSchema>;

export function problemFor(error: AppError, instance?: string): ProblemDetails {
  const status = STATUS_BY_CODE[error.code];
  return {
    type: `https://vm-sidecar-injector.dev/problems/${error.code.toLowerCase().replaceAll('_', '-')}`,
    title: TITLE_BY_STATUS[status] ?? 'Error',
    status,
    detail: error.message,
    ...(instance === undefined ? {} : { instance }),
    code: error.code,
    retryable: error.retryable,
    ...(error.problems.length > 0 ? { problems: error.problems } : {}),
    ...(Object.keys(error.details).length > 0 ? { details: error.details } : {}),
  };
}

export function sendProblem(res: Response, error: AppError, instance?: string): void {
  const problem = problemFor(error, instance);
  if (problem.status === 401 && !res.hasHeader('WWW-Authenticate')) res.setHeader('WWW-Authenticate', 'Bearer realm="vm-sidecar-injector"');
  res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
}

export const notFoundHandler: RequestHandler = (req, res) => {
  sendProblem(res, new AppError('NOT_FOUND', `No resource at ${req.method} ${req.path}.`), req.originalUrl);
};

/** Body-parser and other library errors carry an HTTP `type`; map the ones clients cause to 4xx. */
function fromLibraryError(error: unknown): AppError | undefined {
  const type = (error as { type?: unknown }).type;
  if (type === 'entity.too.large') return new AppError('PAYLOAD_TOO_LARGE', 'The request body is larger than the service accepts.');
  if (type === 'entity.parse.failed') return new AppError('INVALID_REQUEST', 'The request body is not valid JSON.');
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return new AppError('UNSUPPORTED_MEDIA_TYPE', 'The request body encoding is not supported.');
  }
  if (type === 'request.aborted') return new AppError('INVALID_REQUEST', 'The request was aborted by the client.');
  return undefined;
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const appError = fromLibraryError(error) ?? toAppError(error);
    if (appError.code === 'INTERNAL') {
      logger.error('Request failed unexpectedly', { method: req.method, path: req.path, error: appError.cause ?? error });
    }
    if (res.headersSent) return;
    sendProblem(res, appError, req.originalUrl);
  };
}
