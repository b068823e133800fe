import { z } from 'zod';
import type { FieldProblem } from '../errors.js';
import type { NormalizedAffectedVnfc } from './affected-vnfc.js';
import { readAffectedVnfcs } from './sol003-notification.js';
import {
  LCM_OPERATION_STATES,
  booleanLikeSchema,
  identifierSchema,
  isRecord,
  lcmErrorSchema,
  parseOrThrow,
  tackerTimestampSchema,
  type LcmOperationState,
} from './sol003-fields.js';
import { normalizeTackerTimestamp } from './tacker-timestamp.js';

/**
 * VnfLcmOpOcc as `GET /vnflcm/{v1,v2}/vnf_lcm_op_occs/{id}` returns it
 * (tacker/sol_refactored/objects/v2/vnf_lcm_op_occ.py; v1: tacker/objects/vnf_lcm_op_occs.py through
 * tacker/api/views/vnf_lcm_op_occs.py, which camelCases every key).
 * - v2 `operationParams` is the request object (InstantiateVnfRequest, ScaleVnfRequest, …).
 * - v1 `operationParams` is a string: the request JSON-encoded by the controller
 *   (tacker/api/vnflcm/v1/controller.py `_notification_process`), or Python's str() of it for
 *   MODIFY_INFO, which is not JSON and so yields no parameters.
 * - v1 stores SCALE's parameters after converting them to snake_case (`additional_params`, and so
 *   `mesh_sidecar` inside); they are not recognised, see docs/tacker-parameters.md.
 */
export const vnfLcmOpOccSchema = z.looseObject({
  id: identifierSchema,
  operationState: z.enum(LCM_OPERATION_STATES),
  stateEnteredTime: tackerTimestampSchema,
  startTime: tackerTimestampSchema,
  vnfInstanceId: identifierSchema,
  operation: z.string().min(1),
  isAutomaticInvocation: booleanLikeSchema.nullish(),
  operationParams: z.union([z.record(z.string(), z.unknown()), z.string()]).nullish(),
  resourceChanges: z.looseObject({ affectedVnfcs: z.unknown().optional() }).nullish(),
  error: lcmErrorSchema,
});

export interface NormalizedLcmOpOcc {
  id: string;
  vnfInstanceId: string;
  operation: string;
  operationState: LcmOperationState;
  /** Canonical ISO 8601 UTC. */
  startTime: string;
  stateEnteredTime: string;
  /** The operation request's `additionalParams`, where `meshSidecar` lives. */
  additionalParams?: Record<string, unknown>;
  /** `resourceChanges.affectedVnfcs`, read for COMPLETED occurrences only (others are not acted on). */
  affectedVnfcs?: NormalizedAffectedVnfc[];
}

const WHAT = 'Tacker LCM operation occurrence';

/** Throws INVALID_REQUEST listing every problem; the Tacker client reports it as an unexpected answer. */
export function parseLcmOpOcc(body: unknown): NormalizedLcmOpOcc {
  const opOcc = parseOrThrow(vnfLcmOpOccSchema, body, WHAT);
  const additionalParams = additionalParamsOf(opOcc.operationParams);
  const changes = opOcc.resourceChanges?.affectedVnfcs;
  const readChanges = opOcc.operationState === 'COMPLETED' && changes !== undefined && changes !== null;
  return {
    id: opOcc.id,
    vnfInstanceId: opOcc.vnfInstanceId,
    operation: opOcc.operation,
    operationState: opOcc.operationState,
    startTime: normalizeTackerTimestamp(opOcc.startTime) ?? opOcc.startTime,
    stateEnteredTime: normalizeTackerTimestamp(opOcc.stateEnteredTime) ?? opOcc.stateEnteredTime,
    ...(additionalParams === undefined ? {} : { additionalParams }),
    ...(readChanges ? { affectedVnfcs: readAffectedVnfcs(changes, 'resourceChanges.affectedVnfcs', WHAT) } : {}),
  };
}

function additionalParamsOf(operationParams: Record<string, unknown> | string | null | undefined): Record<string, unknown> | undefined {
  const params = typeof operationParams === 'string' ? parseJsonObject(operationParams) : operationParams;
  const additional = params?.additionalParams;
  return isRecord(additional) ? additional : undefined;
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** An operation occurrence's `error`: v2 writes ProblemDetails; v1 mostly `str(exception)`, read as the detail. */
export interface LcmOpOccProblem {
  status?: number;
  title?: string;
  detail?: string;
}

export type LcmOpOccWithError = NormalizedLcmOpOcc & { error?: LcmOpOccProblem };

export interface LcmOpOccListing {
  opOccs: NormalizedLcmOpOcc[];
  /** Occurrences Tacker returned in a form this service cannot read; reported, not fatal for the rest. */
  rejected: Array<{ id?: string; problems: FieldProblem[] }>;
}
