import { opOccView } from './lcm-api-core.js';
import { productFields } from './subscription-filter.js';
import type { TackerState } from './tacker-state.js';
import { formatV1ApiTime } from './tacker-time.js';
import type { SimOpOcc, SimSubscription, SimVnfc, SimVnfInstance } from './vnf-model.js';

type Json = Record<string, unknown>;

/**
 * The JSON v1 answers and sends (tacker/api/views/vnf_lcm.py, conductor_server.py). v1 mixes
 * relative hrefs (instances, most op occurrences) with absolute ones built from [vnf_lcm]
 * endpoint_url (subscriptions, scale, op occurrence views); the simulator keeps that mix.
 */
export class V1Views {
  constructor(private readonly state: TackerState) {}

  /** _get_vnf_instance_href / _get_vnf_lcm_op_occs_href: paths without the endpoint. */
  instancePath(id: string): string {
    return `/vnflcm/v1/vnf_instances/${id}`;
  }

  opOccPath(id: string): string {
    return `/vnflcm/v1/vnf_lcm_op_occs/${id}`;
  }

  absolute(path: string): string {
    return `${this.state.baseUrl}${path}`;
  }

  subscriptionHref(id: string): string {
    return this.absolute(`/vnflcm/v1/subscriptions/${id}`);
  }

  instance(instance: SimVnfInstance): Json {
    const view: Json = { id: instance.id };
    if (instance.vnfInstanceName !== undefined) view.vnfInstanceName = instance.vnfInstanceName;
    if (instance.vnfInstanceDescription !== undefined) view.vnfInstanceDescription = instance.vnfInstanceDescription;
    Object.assign(view, productFields(instance, this.state.vnfds.get(instance.vnfdId)), {
      vnfPkgId: instance.vnfdId,
      instantiationState: instance.instantiationState,
      vimConnectionInfo: instance.instantiationState === 'INSTANTIATED' ? [{ id: this.state.vimId, vimId: this.state.vimId, vimType: 'openstack' }] : [],
    });
    if (instance.instantiationState === 'INSTANTIATED') view.instantiatedVnfInfo = this.instantiatedVnfInfo(instance);
    if (instance.metadata !== undefined) view.metadata = instance.metadata;
    view._links = this.instanceLinks(instance);
    return view;
  }

  private instantiatedVnfInfo(instance: SimVnfInstance): Json {
    return {
      flavourId: instance.flavourId,
      vnfState: 'STARTED',
      scaleStatus: Object.entries(instance.scaleLevels).map(([aspectId, scaleLevel]) => ({ aspectId, scaleLevel })),
      extCpInfo: [],
      vnfcResourceInfo: instance.vnfcs.map((vnfc) => this.vnfcResourceInfo(vnfc)),
      vnfVirtualLinkResourceInfo: [],
      virtualStorageResourceInfo: [],
      ...(instance.additionalParams === undefined ? {} : { additionalParams: instance.additionalParams }),
    };
  }

  vnfcResourceInfo(vnfc: SimVnfc): Json {
    return { id: vnfc.resourceInfoId, vduId: vnfc.vduId, computeResource: this.computeResource(vnfc), storageResourceIds: [], vnfcCpInfo: [] };
  }

  computeResource(vnfc: SimVnfc): Json {
    return { vimConnectionId: this.state.vimId, resourceId: vnfc.serverId, vimLevelResourceType: 'OS::Nova::Server' };
  }

  private instanceLinks(instance: SimVnfInstance): Json {
    const self = this.instancePath(instance.id);
    if (instance.instantiationState === 'NOT_INSTANTIATED') return { self: { href: self }, instantiate: { href: `${self}/instantiate` } };
    return { self: { href: self }, terminate: { href: `${self}/terminate` }, heal: { href: `${self}/heal` } };
  }

  /** v1 stores operationParams as the JSON text of the request and returns it as such. */
  opOcc(occ: SimOpOcc): Json {
    const view = opOccView(occ, formatV1ApiTime);
    if (occ.affectedVnfcs !== undefined) view.resourceChanges = { affectedVnfcs: occ.affectedVnfcs, affectedVirtualLinks: [], affectedVirtualStorages: [] };
    view._links = {
      self: { href: this.absolute(this.opOccPath(occ.id)) },
      vnfInstance: { href: this.absolute(this.instancePath(occ.vnfInstanceId)) },
      rollback: { href: this.absolute(`${this.opOccPath(occ.id)}/rollback`) },
      grant: { href: this.absolute(`${this.opOccPath(occ.id)}/grant`) },
    };
    return view;
  }

  subscription(subscription: SimSubscription): Json {
    return {
      id: subscription.id,
      ...(subscription.filter === undefined ? {} : { filter: subscription.filter }),
      callbackUri: subscription.callbackUri,
      _links: { self: { href: this.subscriptionHref(subscription.id) } },
    };
  }

  /**
   * vnflcm/utils._get_affected_resources: instantiate reports every VNFC ADDED, terminate every one
   * REMOVED; heal compares compute resource ids and reports each new server as MODIFIED under the
   * VNFC's unchanged id. (Scale has its own code, see scaleAffectedVnfcs.)
   */
  affectedVnfcs(before: SimVnfc[] | undefined, after: SimVnfc[] | undefined): Json[] {
    if (before === undefined) return (after ?? []).map((vnfc) => ({ ...this.affected(vnfc, 'ADDED'), affectedVnfcCpIds: [], addedStorageResourceIds: [] }));
    if (after === undefined) return before.map((vnfc) => ({ ...this.affected(vnfc, 'REMOVED'), affectedVnfcCpIds: [], removedStorageResourceIds: [] }));
    const oldServers = new Set(before.map((vnfc) => vnfc.serverId));
    return after.filter((vnfc) => !oldServers.has(vnfc.serverId)).map((vnfc) => ({ ...this.affected(vnfc, 'MODIFIED'), affectedVnfcCpIds: [] }));
  }

  /** vnflcm_driver._scale_resource_update: ADDED or REMOVED by compute resource id. */
  scaleAffectedVnfcs(before: SimVnfc[], after: SimVnfc[]): Json[] {
    const beforeServers = new Set(before.map((vnfc) => vnfc.serverId));
    const afterServers = new Set(after.map((vnfc) => vnfc.serverId));
    const removed = before.filter((vnfc) => !afterServers.has(vnfc.serverId)).map((vnfc) => this.scaleAffected(vnfc, 'REMOVED'));
    const added = after.filter((vnfc) => !beforeServers.has(vnfc.serverId)).map((vnfc) => this.scaleAffected(vnfc, 'ADDED'));
    return [...removed, ...added];
  }

  private affected(vnfc: SimVnfc, changeType: string): Json {
    return { id: vnfc.resourceInfoId, vduId: vnfc.vduId, changeType, computeResource: this.computeResource(vnfc), metadata: {} };
  }

  private scaleAffected(vnfc: SimVnfc, changeType: string): Json {
    return { id: vnfc.resourceInfoId, vduId: vnfc.vduId, changeType, computeResource: this.computeResource(vnfc) };
  }
}
