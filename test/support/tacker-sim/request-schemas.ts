import { z } from 'zod';

/**
 * The request bodies both APIs accept, after Tacker's jsonschema definitions
 * (tacker/sol_refactored/api/schemas/vnflcm_v2.py, tacker/api/schemas/vnf_lcm.py). Unknown
 * properties pass, as the schemas allow additional properties.
 */
const NOTIFICATION_TYPES = ['VnfLcmOperationOccurrenceNotification', 'VnfIdentifierCreationNotification', 'VnfIdentifierDeletionNotification'] as const;
const OPERATION_TYPES = ['INSTANTIATE', 'SCALE', 'SCALE_TO_LEVEL', 'CHANGE_FLAVOUR', 'TERMINATE', 'HEAL', 'OPERATE', 'CHANGE_EXT_CONN', 'MODIFY_INFO', 'CREATE_SNAPSHOT', 'REVERT_TO_SNAPSHOT', 'CHANGE_VNFPKG'] as const;
const OPERATION_STATES = ['STARTING', 'PROCESSING', 'COMPLETED', 'FAILED_TEMP', 'FAILED', 'ROLLING_BACK', 'ROLLED_BACK'] as const;

const keyValuePairs = z.record(z.string(), z.unknown());

export const subscriptionRequestSchema = z.looseObject({
  filter: z
    .looseObject({
      vnfInstanceSubscriptionFilter: z.looseObject({}).optional(),
      notificationTypes: z.array(z.enum(NOTIFICATION_TYPES)).optional(),
      operationTypes: z.array(z.enum(OPERATION_TYPES)).optional(),
      operationStates: z.array(z.enum(OPERATION_STATES)).optional(),
    })
    .optional(),
  /** common_types.Uri: a string of at most 255 characters. */
  callbackUri: z.string().max(255),
  authentication: z
    .looseObject({
      authType: z.array(z.enum(['BASIC', 'OAUTH2_CLIENT_CREDENTIALS', 'OAUTH2_CLIENT_CERT', 'TLS_CERT'])).min(1),
      paramsBasic: z.looseObject({ userName: z.string().optional(), password: z.string().optional() }).optional(),
      paramsOauth2ClientCredentials: z.looseObject({ clientId: z.string(), clientPassword: z.string(), tokenEndpoint: z.string() }).optional(),
    })
    .optional(),
  verbosity: z.enum(['FULL', 'SHORT']).optional(),
});

export const createVnfRequestSchema = z.looseObject({
  vnfdId: z.string(),
  vnfInstanceName: z.string().optional(),
  vnfInstanceDescription: z.string().optional(),
  metadata: keyValuePairs.optional(),
});

export const instantiateRequestSchema = z.looseObject({
  flavourId: z.string(),
  instantiationLevelId: z.string().optional(),
  additionalParams: keyValuePairs.optional(),
});

export const scaleRequestSchema = z.looseObject({
  type: z.enum(['SCALE_OUT', 'SCALE_IN']),
  aspectId: z.string(),
  numberOfSteps: z.number().int().min(1).optional(),
  additionalParams: keyValuePairs.optional(),
});

export const healRequestSchema = z.looseObject({
  vnfcInstanceId: z.array(z.string()).optional(),
  cause: z.string().optional(),
  additionalParams: keyValuePairs.optional(),
});

export const terminateRequestSchema = z.looseObject({
  terminationType: z.enum(['FORCEFUL', 'GRACEFUL']),
  gracefulTerminationTimeout: z.number().int().min(0).optional(),
  additionalParams: keyValuePairs.optional(),
});

export type ParseResult<T> = { ok: true; value: T } | { ok: false; detail: string };

/** jsonschema's message for the first problem, as the validator decorator reports it. */
export function parseRequest<T>(schema: z.ZodType<T>, body: unknown): ParseResult<T> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, detail: describeIssue(result.error.issues[0]) };
}

function describeIssue(issue: z.core.$ZodIssue | undefined): string {
  if (issue === undefined) return 'Invalid input';
  const key = issue.path[issue.path.length - 1];
  const isMissing = issue.code === 'invalid_type' && issue.message.includes('undefined');
  if (isMissing && key !== undefined) return `'${String(key)}' is a required property`;
  return `Invalid input for field/attribute ${issue.path.map(String).join('/')}. ${issue.message}`;
}
