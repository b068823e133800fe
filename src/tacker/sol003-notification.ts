import { z } from 'zod';
import { AppError, type FieldProblem } from '../errors.js';
import { formatZodProblems } from '../validation.js';
import { affectedVnfcListSchema, normalizeAffectedVnfcs, type NormalizedAffectedVnfc } from './affected-vnfc.js';
import {
  LCM_OPERATION_STATES,
  booleanLikeSchema,
  identifierNotificationLinksSchema,
  identifierSchema,
  lcmErrorSchema,
  notificationLinksSchema,
  parseOrThrow,
  tackerTimestampSchema,
  type LcmOperationState,
  type TackerApiVersion,
} from './sol003-fields.js';
import { hasZoneDesignator, normalizeTackerTimestamp } from './tacker-timestamp.js';

/**
 * The SOL 003 notifications Tacker POSTs to a subscription's callbackUri, v1 and v2 alike. Every
 * object is loose: Tacker adds fields between releases (changedInfo, changedExtConnectivity,
 * modificationsTriggeredByVnfPkgChange, …) and an unknown field must never cost a notification.
 */

export const LCM_NOTIFICATION_TYPE = 'VnfLcmOperationOccurrenceNotification';
export const IDENTIFIER_NOTIFICATION_TYPES = ['VnfIdentifierCreationNotification', 'VnfIdentifierDeletionNotification'] as const;

/**
 * VnfLcmOperationOccurrenceNotification (tacker/sol_refactored/objects/v2/vnf_lcm_operation_occurrence_notification.py;
 * v1 builds the same keys as a dict in tacker/conductor/conductor_server.py `_send_lcm_op_occ_notification`).
 * Differences the schema absorbs:
 * - v2 `timeStamp` ends in `Z`; v1's is naive with microseconds (see tacker-timestamp.ts).
 * - v2 `error` is ProblemDetails; v1 `error` is `str(exception)` (SCALE: a ProblemDetails dict).
 * - v1 replaces `_links` with `{subscription}` only, per subscription (conductor_server.py send_notification);
 *   v2 sends vnfInstance, subscription and vnfLcmOpOcc links.
 * - v2 carries `verbosity` (the subscription's); v1 has none.
 * - `notificationStatus` is START only for STARTING in v2 (common/lcm_op_occ_utils.py), while v1 also
 *   sends PROCESSING with START.
 */
export const vnfLcmOperationOccurrenceNotificationSchema = z.looseObject({
  id: identifierSchema,
  notificationType: z.literal(LCM_NOTIFICATION_TYPE),
  subscriptionId: identifierSchema,
  timeStamp: tackerTimestampSchema,
  notificationStatus: z.enum(['START', 'RESULT']),
  operationState: z.enum(LCM_OPERATION_STATES),
  vnfInstanceId: identifierSchema,
  operation: z.string().min(1),
  isAutomaticInvocation: booleanLikeSchema,
  verbosity: z.enum(['FULL', 'SHORT']).nullish(),
  vnfLcmOpOccId: identifierSchema,
  affectedVnfcs: affectedVnfcListSchema.nullish(),
  error: lcmErrorSchema,
  _links: notificationLinksSchema.nullish(),
  links: notificationLinksSchema.nullish(),
});

/**
 * `affectedVnfcs` is read only from COMPLETED notifications: other states are ignored anyway, and v1
 * fills it on failure paths with half-built entries (a healed VNFC's empty ResourceHandle,
 * tacker/conductor/conductor_server.py `_heal_grant`) that must not make Tacker's delivery fail.
 */
const envelopeSchema = vnfLcmOperationOccurrenceNotificationSchema.extend({ affectedVnfcs: z.unknown().optional() });
type LcmEnvelope = z.infer<typeof envelopeSchema>;

/**
 * VnfIdentifierCreationNotification / VnfIdentifierDeletionNotification. v2 builds them in
 * tacker/sol_refactored/common/subscription_utils.py (make_create_inst_notif_data, `_links` with
 * vnfInstance and subscription). v1 builds them in tacker/api/vnflcm/v1/controller.py (`create`:
 * `links.vnfInstance` a Link; `delete`: a template string, see identifierNotificationLinksSchema) and
 * conductor_server.py send_notification adds `id`, `subscriptionId`, a naive `timeStamp` and
 * `links.subscription`. The service acts on neither: they are answered 204 and nothing is stored.
 */
export const vnfIdentifierNotificationSchema = z.looseObject({
  id: identifierSchema,
  notificationType: z.enum(IDENTIFIER_NOTIFICATION_TYPES),
  subscriptionId: identifierSchema,
  timeStamp: tackerTimestampSchema,
  vnfInstanceId: identifierSchema,
  _links: identifierNotificationLinksSchema.nullish(),
  links: identifierNotificationLinksSchema.nullish(),
});

export interface NormalizedLcmNotification {
  apiVersion: TackerApiVersion;
  /** v1 reuses one id for the copies sent to each subscription; never de-duplicate on it. */
  id: string;
  subscriptionId: string;
  vnfInstanceId: string;
  vnfLcmOpOccId: string;
  operation: string;
  operationState: LcmOperationState;
  notificationStatus: 'START' | 'RESULT';
  /** Canonical ISO 8601 UTC. */
  timeStamp: string;
  isAutomaticInvocation: boolean;
  verbosity?: 'FULL' | 'SHORT';
  /** Only for COMPLETED notifications, and only when Tacker sent them (v2 FULL verbosity, v1 always). */
  affectedVnfcs?: NormalizedAffectedVnfc[];
}

export type LcmNotificationParseResult =
  | { kind: 'lcm-op-occ'; notification: NormalizedLcmNotification }
  | { kind: 'ignored'; reason: string; notificationType: string };

export interface ParseNotificationOptions {
  /** The API the callback route belongs to, when it knows; otherwise guessed from the body's shape. */
  apiVersion?: TackerApiVersion;
}

const WHAT = 'Tacker notification';

/** Reads one notification body; throws INVALID_REQUEST listing every problem when it is malformed. */
/** Built once: constructing a zod schema costs more than parsing with it, and this runs per notification. */
const notificationTypeSchema = z.looseObject({ notificationType: z.string().min(1) });

export function parseLcmNotification(body: unknown, options: ParseNotificationOptions = {}): LcmNotificationParseResult {
  const { notificationType } = parseOrThrow(notificationTypeSchema, body, WHAT);
  if (notificationType === LCM_NOTIFICATION_TYPE) {
    return { kind: 'lcm-op-occ', notification: normalizeOperationOccurrence(parseOrThrow(envelopeSchema, body, WHAT), options.apiVersion) };
  }
  if ((IDENTIFIER_NOTIFICATION_TYPES as readonly string[]).includes(notificationType)) {
    parseOrThrow(vnfIdentifierNotificationSchema, body, WHAT);
    return { kind: 'ignored', reason: `${notificationType} creates or deletes an instance record; no VM changes with it.`, notificationType };
  }
  return { kind: 'ignored', reason: `${notificationType} is not a VNF lifecycle notification this service handles.`, notificationType };
}

function normalizeOperationOccurrence(envelope: LcmEnvelope, hint: TackerApiVersion | undefined): NormalizedLcmNotification {
  const affectedVnfcs = completedAffectedVnfcs(envelope);
  return {
    apiVersion: hint ?? guessApiVersion(envelope),
    id: envelope.id,
    subscriptionId: envelope.subscriptionId,
    vnfInstanceId: envelope.vnfInstanceId,
    vnfLcmOpOccId: envelope.vnfLcmOpOccId,
    operation: envelope.operation,
    operationState: envelope.operationState,
    notificationStatus: envelope.notificationStatus,
    timeStamp: normalizeTackerTimestamp(envelope.timeStamp) ?? envelope.timeStamp,
    isAutomaticInvocation: envelope.isAutomaticInvocation,
    ...(envelope.verbosity ? { verbosity: envelope.verbosity } : {}),
    ...(affectedVnfcs === undefined ? {} : { affectedVnfcs }),
  };
}

function completedAffectedVnfcs(envelope: LcmEnvelope): NormalizedAffectedVnfc[] | undefined {
  if (envelope.operationState !== 'COMPLETED' || envelope.affectedVnfcs === undefined || envelope.affectedVnfcs === null) return undefined;
  return readAffectedVnfcs(envelope.affectedVnfcs, 'affectedVnfcs', WHAT);
}

/** Validates affected VNFCs that will be acted on: each must name its server. */
export function readAffectedVnfcs(value: unknown, path: string, what: string): NormalizedAffectedVnfc[] {
  const parsed = affectedVnfcListSchema.safeParse(value);
  if (!parsed.success) throw invalid(what, formatZodProblems(parsed.error).map((problem) => prefixed(path, problem)));
  const { vnfcs, withoutServer } = normalizeAffectedVnfcs(parsed.data);
  if (withoutServer.length === 0) return vnfcs;
  throw invalid(
    what,
    withoutServer.map((index) => ({ path: `${path}.${index}.computeResource.resourceId`, message: 'a completed change must name its server' })),
  );
}

function invalid(what: string, problems: FieldProblem[]): AppError {
  return new AppError('INVALID_REQUEST', `The ${what} is invalid.`, { problems, details: { what } });
}

function prefixed(path: string, problem: FieldProblem): FieldProblem {
  return { path: problem.path === '(root)' ? path : `${path}.${problem.path}`, message: problem.message };
}

/**
 * Which API sent a notification, from the strongest signal down: the subscription link names its
 * API (`…/vnflcm/v1/subscriptions/…` or `…/vnflcm/v2/…`), only v2 sends `verbosity`, and only v2
 * writes a zone in `timeStamp`. `_links` alone proves nothing: v1 sends it too (with only `subscription`).
 */
export function guessApiVersion(notification: Pick<LcmEnvelope, '_links' | 'links' | 'verbosity' | 'timeStamp'>): TackerApiVersion {
  const fromHref = versionInHref(notification._links?.subscription?.href ?? notification.links?.subscription?.href);
  if (fromHref !== undefined) return fromHref;
  if (notification.verbosity) return 'v2';
  return hasZoneDesignator(notification.timeStamp) ? 'v2' : 'v1';
}

function versionInHref(href: string | undefined): TackerApiVersion | undefined {
  const version = href === undefined ? undefined : /\/vnflcm\/(v1|v2)\//.exec(href)?.[1];
  return version === 'v1' || version === 'v2' ? version : undefined;
}
