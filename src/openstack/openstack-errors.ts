import { AppError, type ErrorCode } from '../errors.js';
import { errorBodyMessage, isRetryableStatus, withMessage } from '../http/http-client-errors.js';

/**
 * Every error code the OpenStack adapters use, chosen in one place. errors.ts has no
 * OpenStack-specific codes yet; these are the nearest existing ones, and the comments name the
 * codes proposed for them so that adopting those is a change to this table only.
 */
export const OPENSTACK_ERROR_CODES = {
  /** Keystone refused the credentials (401/403). */
  authenticationRejected: 'CREDENTIALS_UNAVAILABLE',
  /** Keystone did not answer usefully (5xx, 429, connection, timeout): retryable. Proposed: OPENSTACK_UNAVAILABLE. */
  identityUnavailable: 'CREDENTIALS_UNAVAILABLE',
  /** Nova or Neutron did not answer usefully: retryable. Proposed: OPENSTACK_UNAVAILABLE. */
  serviceUnavailable: 'SERVICE_UNREACHABLE',
  /** Auth URL, region, interface, microversion or network choice does not fit the cloud. */
  misconfigured: 'INVALID_CONFIG',
  /** An answer that is not what the published API returns. */
  unexpectedAnswer: 'INTERNAL',
  /** The server is gone (404 or DELETED). */
  serverGone: 'NOT_FOUND',
  /** The server is in ERROR. Proposed: SERVER_FAILED. */
  serverFailed: 'CONFLICT',
  /** The server did not become ACTIVE before the deadline: retryable. Proposed: SERVER_NOT_READY. */
  serverNotReady: 'STEP_TIMEOUT',
  /** The server has no address matching the preference. Proposed: SERVER_ADDRESS_UNAVAILABLE. */
  addressUnavailable: 'INVALID_CONFIG',
} as const satisfies Record<string, ErrorCode>;

/**
 * The human message inside an OpenStack error body: Keystone and keystonemiddleware send
 * `{"error": {"message"}}`, Nova `{"itemNotFound": {"message", "code"}}` (one key named after the
 * fault), Neutron `{"NeutronError": {"type", "message"}}`.
 */
export function openstackErrorMessage(text: string): string | undefined {
  return errorBodyMessage(text, (body) =>
    Object.values(body as Record<string, unknown>)
      .map((fault) => (typeof fault === 'string' ? fault : (fault as { message?: unknown } | null)?.message))
      .find((message) => typeof message === 'string' && message.length > 0),
  );
}

export { isRetryableStatus, withMessage };

export interface RequestContext {
  /** Keystone, Nova or Neutron, as an operator reads it. */
  service: string;
  /** Method and path without query, e.g. `GET /v2.0/ports`; never a token or a URL with credentials. */
  operation: string;
}

export function unavailableError(context: RequestContext, reason: string, cause?: unknown): AppError {
  const code = context.service === 'Keystone' ? OPENSTACK_ERROR_CODES.identityUnavailable : OPENSTACK_ERROR_CODES.serviceUnavailable;
  return new AppError(code, `${context.service} did not answer ${context.operation} (${reason}).`, {
    retryable: true,
    details: { service: context.service, operation: context.operation, reason },
    cause,
  });
}

export function statusError(context: RequestContext, status: number, bodyText: string): AppError {
  const message = openstackErrorMessage(bodyText);
  const details = { service: context.service, operation: context.operation, status, ...(message === undefined ? {} : { message }) };
  if (isRetryableStatus(status)) {
    const code = context.service === 'Keystone' ? OPENSTACK_ERROR_CODES.identityUnavailable : OPENSTACK_ERROR_CODES.serviceUnavailable;
    return new AppError(code, `${context.service} answered ${context.operation} with HTTP ${status}${withMessage(message)}`, { retryable: true, details });
  }
  if (status === 401 || status === 403) {
    return new AppError(OPENSTACK_ERROR_CODES.authenticationRejected, `${context.service} refused ${context.operation} with HTTP ${status}${withMessage(message)}`, { details });
  }
  return new AppError(OPENSTACK_ERROR_CODES.misconfigured, `${context.service} answered ${context.operation} with HTTP ${status}${withMessage(message)}`, { details });
}

/** Aborted by the caller: its reason when that is an AppError (the job runner's STEP_TIMEOUT), else a plain cancellation. */
export function abortError(signal: AbortSignal, context: RequestContext): AppError {
  const reason: unknown = signal.reason;
  if (reason instanceof AppError) return reason;
  return new AppError(OPENSTACK_ERROR_CODES.serviceUnavailable, `${context.service} ${context.operation} was cancelled.`, {
    retryable: true,
    details: { service: context.service, operation: context.operation, cancelled: true },
    cause: reason,
  });
}
