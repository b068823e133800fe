import { opOccView } from './lcm-api-core.js';
import { randomUUID } from 'node:crypto';
import { newestFirst } from './lcm-work.js';
import { productFields } from './subscription-filter.js';
import type { TackerState } from './tacker-state.js';
import { formatV2Timestamp } from './tacker-time.js';
import { maxScaleLevel, type SimOpOcc, type SimSubscription, type SimVnfc, type SimVnfInstance } from './vnf-model.js';

type Json = Record<string, unknown>;

/** The JSON v2 answers and sends, field order as the objects' to_dict() writes it (tacker/sol_refactored/objects/v2). */
export class V2Views {
  constructor(private readonly state: TackerState) {}

  /** vnf_instance_utils.inst_href, lcm_op_occ_utils.lcmocc_href, subscription_utils.subsc_href */
  instHref(id: string): string {
    return `${this.state.baseUrl}/vnflcm/v2/vnf_instances/${id}`;
  }

  opOccHref(id: string): string {
    return `${this.state.baseUrl}/vnflcm/v2/vnf_lcm_op_occs/${id}`;
  }

  subscriptionHref(id: string): string {
    return `${this.state.baseUrl}/vnflcm/v2/subscriptions/${id}`;
  }

  instance(instance: SimVnfInstance): Json {
    const view: Json = { id: instance.id };
    if (instance.vnfInstanceName !== undefined) view.vnfInstanceName = instance.vnfInstanceName;
    if (instance.vnfInstanceDescription !== undefined) view.vnfInstanceDescription = instance.vnfInstanceDescription;
    Object.assign(view, productFields(instance, this.state.vnfds.get(instance.vnfdId)));
    if (instance.flavourId !== undefined) view.vimConnectionInfo = instance.instantiationState !== 'INSTANTIATED' ? {} : (instance.cnf?.vimConnectionInfo ?? { default: this.vimConnectionInfo() });
    view.instantiationState = instance.instantiationState;
    if (instance.flavourId !== undefined) view.instantiatedVnfInfo = this.instantiatedVnfInfo(instance);
    if (instance.metadata !== undefined) view.metadata = instance.metadata;
    view._links = this.instanceLinks(instance);
    return view;
  }

  /** The password is dropped from accessInfo (vnflcm_view.InstanceViewBuilder.detail, SOL003 4.4.1.6). */
  private vimConnectionInfo(): Json {
    return {
      vimId: this.state.vimId,
      vimType: 'ETSINFV.OPENSTACK_KEYSTONE.V_3',
      interfaceInfo: { endpoint: 'http://127.0.0.1/identity/v3' },
      accessInfo: { username: 'nfv_user', region: 'RegionOne', project: 'nfv', projectDomain: 'Default', userDomain: 'Default' },
    };
  }

  /** After terminate only flavourId and vnfState STOPPED remain (vnflcm_driver_v2.terminate_process). */
  private instantiatedVnfInfo(instance: SimVnfInstance): Json {
    if (instance.instantiationState === 'NOT_INSTANTIATED') return { flavourId: instance.flavourId, vnfState: 'STOPPED' };
    const info: Json = { flavourId: instance.flavourId, vnfState: 'STARTED' };
    // The kubernetes driver records where the CNF's objects went.
    if (instance.cnf !== undefined) info.metadata = { namespace: instance.cnf.namespace };
    const aspects = Object.entries(instance.scaleLevels);
    if (aspects.length > 0) {
      const vnfd = this.state.vnfds.get(instance.vnfdId);
      info.scaleStatus = aspects.map(([aspectId, scaleLevel]) => ({ aspectId, scaleLevel }));
      info.maxScaleLevels = aspects.map(([aspectId]) => ({ aspectId, scaleLevel: vnfd === undefined ? 0 : maxScaleLevel(vnfd, aspectId) }));
    }
    const vnfcs = newestFirst(instance.vnfcs);
    if (vnfcs.length > 0) {
      info.vnfcResourceInfo = vnfcs.map((vnfc) => this.vnfcResourceInfo(vnfc));
      info.vnfcInfo = vnfcs.map((vnfc) => ({ id: vnfcInfoId(vnfc), vduId: vnfc.vduId, vnfcResourceInfoId: vnfc.resourceInfoId, vnfcState: 'STARTED' }));
    }
    return info;
  }

  vnfcResourceInfo(vnfc: SimVnfc): Json {
    return { id: vnfc.resourceInfoId, vduId: vnfc.vduId, computeResource: this.computeResource(vnfc), metadata: { creation_time: formatV2Timestamp(vnfc.createdAt) } };
  }

  private computeResource(vnfc: SimVnfc): Json {
    return { vimConnectionId: vnfc.vimConnectionId ?? this.state.vimId, resourceId: vnfc.serverId, vimLevelResourceType: vnfc.vimLevelResourceType ?? 'OS::Nova::Server' };
  }

  /** vnf_instance_utils.make_inst_links */
  private instanceLinks(instance: SimVnfInstance): Json {
    const self = this.instHref(instance.id);
    if (instance.instantiationState === 'NOT_INSTANTIATED') return { self: { href: self }, instantiate: { href: `${self}/instantiate` } };
    return {
      self: { href: self },
      terminate: { href: `${self}/terminate` },
      scale: { href: `${self}/scale` },
      heal: { href: `${self}/heal` },
      changeExtConn: { href: `${self}/change_ext_conn` },
    };
  }

  /**
   * lcm_op_occ_utils.update_lcmocc: VNFCs are compared by vnfcResourceInfo id, which for v2 is the
   * server id, so a healed VNFC is one REMOVED and one ADDED entry, never MODIFIED.
   */
  affectedVnfcs(before: SimVnfc[], after: SimVnfc[]): Json[] {
    const beforeIds = new Set(before.map((vnfc) => vnfc.resourceInfoId));
    const afterIds = new Set(after.map((vnfc) => vnfc.resourceInfoId));
    const removed = newestFirst(before).filter((vnfc) => !afterIds.has(vnfc.resourceInfoId));
    const added = newestFirst(after).filter((vnfc) => !beforeIds.has(vnfc.resourceInfoId));
    return [...removed.map((vnfc) => this.affectedVnfc(vnfc, 'REMOVED')), ...added.map((vnfc) => this.affectedVnfc(vnfc, 'ADDED'))];
  }

  private affectedVnfc(vnfc: SimVnfc, changeType: string): Json {
    const info = this.vnfcResourceInfo(vnfc);
    return { id: info.id, vduId: info.vduId, changeType, computeResource: info.computeResource, metadata: info.metadata };
  }

  opOcc(occ: SimOpOcc): Json {
    const view = opOccView(occ, formatV2Timestamp);
    if (occ.affectedVnfcs !== undefined) view.resourceChanges = { affectedVnfcs: occ.affectedVnfcs };
    const self = this.opOccHref(occ.id);
    view._links = {
      self: { href: self },
      vnfInstance: { href: this.instHref(occ.vnfInstanceId) },
      retry: { href: `${self}/retry` },
      rollback: { href: `${self}/rollback` },
      fail: { href: `${self}/fail` },
    };
    return view;
  }

  /** The authentication is kept for sending but never shown (SubscriptionViewBuilder.detail). */
  subscription(subscription: SimSubscription): Json {
    const view: Json = { id: subscription.id };
    if (subscription.filter !== undefined) view.filter = subscription.filter;
    Object.assign(view, { callbackUri: subscription.callbackUri, verbosity: subscription.verbosity, _links: { self: { href: this.subscriptionHref(subscription.id) } } });
    return view;
  }

  /**
   * lcm_op_occ_utils.make_lcmocc_notif_data: START only for STARTING; error when the occurrence has
   * one; affectedVnfcs only with FULL verbosity and only once resourceChanges exist (on COMPLETED).
   */
  lcmNotification(subscription: SimSubscription, occ: SimOpOcc): Json {
    const notification: Json = {
      id: randomUUID(),
      notificationType: 'VnfLcmOperationOccurrenceNotification',
      subscriptionId: subscription.id,
      timeStamp: formatV2Timestamp(this.state.clock.now()),
      notificationStatus: occ.operationState === 'STARTING' ? 'START' : 'RESULT',
      operationState: occ.operationState,
      vnfInstanceId: occ.vnfInstanceId,
      operation: occ.operation,
      isAutomaticInvocation: occ.isAutomaticInvocation,
      verbosity: subscription.verbosity,
      vnfLcmOpOccId: occ.id,
    };
    if (subscription.verbosity === 'FULL' && occ.affectedVnfcs !== undefined) notification.affectedVnfcs = occ.affectedVnfcs;
    if (occ.error !== undefined) notification.error = occ.error;
    notification._links = {
      vnfInstance: { href: this.instHref(occ.vnfInstanceId) },
      subscription: { href: this.subscriptionHref(subscription.id) },
      vnfLcmOpOcc: { href: this.opOccHref(occ.id) },
    };
    return notification;
  }

  /** subscription_utils.make_create_inst_notif_data / make_delete_inst_notif_data */
  identifierNotification(subscription: SimSubscription, instanceId: string, notificationType: string): Json {
    return {
      id: randomUUID(),
      notificationType,
      subscriptionId: subscription.id,
      timeStamp: formatV2Timestamp(this.state.clock.now()),
      vnfInstanceId: instanceId,
      _links: { vnfInstance: { href: this.instHref(instanceId) }, subscription: { href: this.subscriptionHref(subscription.id) } },
    };
  }
}

/** openstack.py makes vnfcInfo ids as `<vduId>-<vnfcResourceInfo id>`; SOL002 heal names VNFCs by them. */
export function vnfcInfoId(vnfc: SimVnfc): string {
  return `${vnfc.vduId}-${vnfc.resourceInfoId}`;
}
