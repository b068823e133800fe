/**
 * Stable error codes. Callers branch on `code` and `retryable`, never on message text.
 * Only api/ maps codes to HTTP status; everything else stays transport-agnostic.
 */
export const ERROR_CODES = [
  'INVALID_SPEC',
  'INVALID_CONFIG',
  'INVALID_REQUEST',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'RATE_LIMITED',
  'NOT_FOUND',
  'UNSUPPORTED_MEDIA_TYPE',
  'PAYLOAD_TOO_LARGE',
  'USER_DATA_TOO_LARGE',
  'GATEWAY_UNRESOLVED',
  'MESH_INCONSISTENT',
  'CREDENTIALS_UNAVAILABLE',
  'PACKAGE_UNAVAILABLE',
  'SECRET_UNAVAILABLE',
  'SSH_CONNECT_FAILED',
  'SSH_AUTH_FAILED',
  'SSH_HOST_KEY_MISMATCH',
  'SSH_HOST_KEY_UNKNOWN',
  'SSH_CONNECTION_LOST',
  'REMOTE_COMMAND_FAILED',
  'REMOTE_COMMAND_TIMEOUT',
  'STEP_TIMEOUT',
  'SIDECAR_NOT_READY',
  'REGISTRY_FAILED',
  'NOTIFICATION_FAILED',
  'INJECTION_FAILED',
  'DEPLOYMENT_WAITING',
  'CONFLICT',
  'SERVICE_UNREACHABLE',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** One problem with one field of an input; `path` is a JSON-pointer-like dotted path. */
export interface FieldProblem {
  path: string;
  message: string;
}

export interface AppErrorOptions {
  retryable?: boolean;
  details?: Record<string, unknown>;
  problems?: FieldProblem[];
  cause?: unknown;
}

const APP_ERROR_BRAND = Symbol.for('vm-sidecar-injector.AppError');

export class AppError extends Error {
  /**
   * Recognised by a process-wide brand rather than by class identity: a process that loads this
   * module twice (a test runner that requires some files as CommonJS and imports others as ES
   * modules) must still see one AppError, or errors lose their code and retryable flag.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[APP_ERROR_BRAND] === true;
  }

  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;
  readonly problems: FieldProblem[];

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    Object.defineProperty(this, APP_ERROR_BRAND, { value: true });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
    this.problems = options.problems ?? [];
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}

/** Wraps anything thrown into an AppError without leaking the original message to clients. */
export function toAppError(value: unknown): AppError {
  if (isAppError(value)) return value;
  return new AppError('INTERNAL', 'An internal error occurred.', { cause: value });
}
