import { z } from 'zod';
import { isRecord } from './sol003-fields.js';

/**
 * SOL 003 AffectedVnfc as Tacker sends it, in notifications and in `resourceChanges` of an LCM
 * operation occurrence (tacker/sol_refactored/objects/v2/affected_vnfc.py). Unknown fields such as
 * `metadata`, `affectedVnfcCpIds` or `addedStorageResourceIds` are kept but not used.
 */
export const VNFC_CHANGE_TYPES = ['ADDED', 'REMOVED', 'MODIFIED', 'TEMPORARY'] as const;
export type VnfcChangeType = (typeof VNFC_CHANGE_TYPES)[number];

/**
 * ResourceHandle (tacker/sol_refactored/objects/common/resource_handle.py). Only `resourceId` is
 * mandatory in SOL 003; v1 writes every field, with null for the unset ones
 * (tacker/objects/vnf_instance.py ResourceHandle.to_dict), so all of them may be null here and a
 * missing server ID is judged where it matters (an acted-on change), not by the schema.
 */
export const resourceHandleSchema = z.looseObject({
  vimConnectionId: z.string().nullish(),
  resourceProviderId: z.string().nullish(),
  resourceId: z.string().nullish(),
  vimLevelResourceType: z.string().nullish(),
});

const affectedVnfcObjectSchema = z.looseObject({
  id: z.string().min(1),
  vduId: z.string().min(1),
  changeType: z.enum(VNFC_CHANGE_TYPES),
  computeResource: resourceHandleSchema,
});

const SNAKE_TO_CAMEL: Record<string, string> = {
  vdu_id: 'vduId',
  change_type: 'changeType',
  compute_resource: 'computeResource',
  vim_connection_id: 'vimConnectionId',
  resource_provider_id: 'resourceProviderId',
  resource_id: 'resourceId',
  vim_level_resource_type: 'vimLevelResourceType',
};

function camelizeKeys(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [SNAKE_TO_CAMEL[key] ?? key, inner]));
}

/**
 * v1 SCALE puts `resource_changes.to_dict()` straight into the notification, so its entries are
 * snake_case (`vdu_id`, `change_type`, `compute_resource.resource_id`): tacker/vnflcm/vnflcm_driver.py,
 * scale COMPLETED path; every other v1 path converts to camelCase first (tacker/vnflcm/utils.py
 * `_build_affected_resources`). Both spellings are read the same way.
 */
function camelizeV1Entry(value: unknown): unknown {
  if (!isRecord(value)) return value;
  const entry = camelizeKeys(value);
  return isRecord(entry.computeResource) ? { ...entry, computeResource: camelizeKeys(entry.computeResource) } : entry;
}

export const affectedVnfcSchema = z.preprocess(camelizeV1Entry, affectedVnfcObjectSchema);
export const affectedVnfcListSchema = z.array(affectedVnfcSchema);
export type AffectedVnfc = z.infer<typeof affectedVnfcObjectSchema>;

/** What the product needs from one AffectedVnfc: which Nova server changed, how, and in which VDU. */
export interface NormalizedAffectedVnfc {
  vnfcId: string;
  vduId: string;
  changeType: VnfcChangeType;
  /** `computeResource.resourceId`: the Nova server UUID for OpenStack VIMs. */
  serverId: string;
  /** `OS::Nova::Server` for OpenStack VIMs (Heat's resource type); a Kubernetes kind (`Pod`, `Deployment`) for CNFs. */
  vimLevelResourceType?: string;
}

export interface NormalizedAffectedVnfcs {
  vnfcs: NormalizedAffectedVnfc[];
  /** Index of each entry that names no server; a problem only for changes that are acted on. */
  withoutServer: number[];
}

export function normalizeAffectedVnfcs(entries: AffectedVnfc[]): NormalizedAffectedVnfcs {
  const vnfcs: NormalizedAffectedVnfc[] = [];
  const withoutServer: number[] = [];
  entries.forEach((entry, index) => {
    const serverId = entry.computeResource.resourceId ?? '';
    if (serverId === '') {
      withoutServer.push(index);
      return;
    }
    const type = entry.computeResource.vimLevelResourceType;
    vnfcs.push({ vnfcId: entry.id, vduId: entry.vduId, changeType: entry.changeType, serverId, ...(type ? { vimLevelResourceType: type } : {}) });
  });
  return { vnfcs, withoutServer };
}
