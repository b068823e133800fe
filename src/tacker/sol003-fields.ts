import { z } from 'zod';
import { AppError } from '../errors.js';
import { formatZodProblems } from '../validation.js';
import { TIMESTAMP_PROBLEM, isTackerTimestamp } from './tacker-timestamp.js';

/** Tacker 15 serves both SOL 003 APIs side by side, under /vnflcm/v1 and /vnflcm/v2. */
export type TackerApiVersion = 'v1' | 'v2';

/** LcmOperationStateType (tacker/sol_refactored/objects/v2/fields.py); v1 uses the same names. */
export const LCM_OPERATION_STATES = ['STARTING', 'PROCESSING', 'COMPLETED', 'FAILED_TEMP', 'FAILED', 'ROLLING_BACK', 'ROLLED_BACK'] as const;
export type LcmOperationState = (typeof LCM_OPERATION_STATES)[number];

/**
 * LcmOperationType (tacker/sol_refactored/objects/v2/fields.py). Schemas accept any non-empty
 * string so that an operation a later Tacker adds is ignored rather than refused.
 */
export const LCM_OPERATIONS = [
  'INSTANTIATE',
  'SCALE',
  'SCALE_TO_LEVEL',
  'CHANGE_FLAVOUR',
  'TERMINATE',
  'HEAL',
  'OPERATE',
  'CHANGE_EXT_CONN',
  'MODIFY_INFO',
  'CREATE_SNAPSHOT',
  'REVERT_TO_SNAPSHOT',
  'CHANGE_VNFPKG',
] as const;

export const identifierSchema = z.string().min(1);

export const tackerTimestampSchema = z.string().refine(isTackerTimestamp, TIMESTAMP_PROBLEM);

/**
 * v1 sometimes sends Python's str() of a boolean: SCALE copies `additionalParams.is_auto` ("False")
 * into `isAutomaticInvocation` (tacker/api/vnflcm/v1/controller.py, `_scale`), and the MODIFY_INFO
 * failure path writes 'False' (tacker/conductor/conductor_server.py, `revert_update_lcm`).
 */
export const booleanLikeSchema = z
  .union([z.boolean(), z.enum(['True', 'False', 'true', 'false'])])
  .transform((value) => value === true || value === 'True' || value === 'true');

/** v2 sends ProblemDetails; v1 sends `str(exception)` on most paths and a ProblemDetails dict on SCALE. */
export const lcmErrorSchema = z.union([z.string(), z.looseObject({})]).nullish();

export const linkSchema = z.looseObject({ href: z.string() });

export const notificationLinksSchema = z.looseObject({
  vnfInstance: linkSchema.nullish(),
  subscription: linkSchema.nullish(),
  vnfLcmOpOcc: linkSchema.nullish(),
});

/**
 * Identifier notifications' links. v1's deletion names the instance with a bare, unexpanded template
 * string, `"href:{apiRoot}/vnflcm/v1/vnf_instances/{vnfInstanceId}"` (tacker/api/vnflcm/v1/controller.py,
 * `delete`), where SOL 003 has a Link object; the service never follows these links, so either is taken.
 */
export const identifierNotificationLinksSchema = z.looseObject({
  vnfInstance: z.union([linkSchema, z.string()]).nullish(),
  subscription: linkSchema.nullish(),
});

/** Parses with a zod schema and turns every issue into one INVALID_REQUEST listing them all. */
export function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new AppError('INVALID_REQUEST', `The ${what} is invalid.`, { problems: formatZodProblems(parsed.error), details: { what } });
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
