import { z } from 'zod';
import { resourceHandleSchema } from './affected-vnfc.js';
import { identifierSchema, parseOrThrow } from './sol003-fields.js';

/**
 * VnfInstance as `GET /vnflcm/{v1,v2}/vnf_instances/{id}` returns it
 * (tacker/sol_refactored/objects/v2/vnf_instance.py; v1 camelCases its snake_case objects in
 * tacker/api/views/vnf_lcm.py). A single instance is returned with `instantiatedVnfInfo`; only
 * lists leave it out by default (tacker/sol_refactored/controller/vnflcm_view.py `_EXCLUDE_DEFAULT`).
 * For OpenStack VIMs, v2 sets each vnfcResourceInfo `id` and `computeResource.resourceId` to the
 * Heat server's physical resource ID, i.e. the Nova server UUID
 * (tacker/sol_refactored/infra_drivers/openstack/openstack.py).
 */
const vnfcResourceInfoSchema = z.looseObject({
  id: identifierSchema,
  vduId: identifierSchema,
  computeResource: resourceHandleSchema,
});

export const vnfInstanceSchema = z.looseObject({
  id: identifierSchema,
  vnfdId: identifierSchema,
  vnfInstanceName: z.string().nullish(),
  instantiationState: z.enum(['INSTANTIATED', 'NOT_INSTANTIATED']),
  instantiatedVnfInfo: z.looseObject({ vnfcResourceInfo: z.array(vnfcResourceInfoSchema).nullish() }).nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
});

export interface VnfInstanceVnfc {
  vnfcId: string;
  vduId: string;
  serverId: string;
  vimLevelResourceType?: string;
}

export interface NormalizedVnfInstance {
  id: string;
  vnfdId: string;
  vnfInstanceName?: string;
  instantiationState: 'INSTANTIATED' | 'NOT_INSTANTIATED';
  /** VNFCs that have a compute resource; v1 leaves it empty while a heal rebuilds a server. */
  vnfcs: VnfInstanceVnfc[];
  metadata?: Record<string, unknown>;
}

export function parseVnfInstance(body: unknown): NormalizedVnfInstance {
  const instance = parseOrThrow(vnfInstanceSchema, body, 'Tacker VNF instance');
  const vnfcs = (instance.instantiatedVnfInfo?.vnfcResourceInfo ?? []).flatMap((vnfc): VnfInstanceVnfc[] => {
    const serverId = vnfc.computeResource.resourceId ?? '';
    if (serverId === '') return [];
    const type = vnfc.computeResource.vimLevelResourceType;
    return [{ vnfcId: vnfc.id, vduId: vnfc.vduId, serverId, ...(type ? { vimLevelResourceType: type } : {}) }];
  });
  return {
    id: instance.id,
    vnfdId: instance.vnfdId,
    ...(instance.vnfInstanceName ? { vnfInstanceName: instance.vnfInstanceName } : {}),
    instantiationState: instance.instantiationState,
    vnfcs,
    ...(instance.metadata ? { metadata: instance.metadata } : {}),
  };
}
