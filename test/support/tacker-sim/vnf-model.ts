/**
 * The Tacker simulator's state. Tacker keeps v1 and v2 in separate tables (vnf_instances vs
 * VnfInstanceV2, vnf_lcm_subscriptions vs LccnSubscriptionV2), so every record names its API and
 * one API never sees the other's records.
 */
export type TackerApi = 'v1' | 'v2';

export type LcmOperation = 'INSTANTIATE' | 'SCALE' | 'HEAL' | 'TERMINATE';

export type LcmOperationState = 'STARTING' | 'PROCESSING' | 'COMPLETED' | 'FAILED_TEMP' | 'FAILED' | 'ROLLING_BACK' | 'ROLLED_BACK';

export interface SimVdu {
  vduId: string;
  /** Instances at scale level 0 (Tacker reads it from the VDU's `vdu_profile.min_number_of_instances`). */
  initialInstances: number;
  /** Nova server metadata every server of this VDU gets. */
  metadata?: Record<string, string>;
  /** A CNF's VDU `properties.name`: the Deployment in the package's definition files it stands for. */
  k8sName?: string;
}

export interface SimScalingAspect {
  vduId: string;
  /** Servers added or removed per scaling step. */
  stepDelta: number;
  /** `max_scale_level` of the aspect; 10 when not given. */
  maxScaleLevel?: number;
}

/** The simple VNFD model a test registers; only what LCM operations need. */
export interface SimVnfd {
  vnfdId: string;
  vdus: SimVdu[];
  scalingAspects?: Record<string, SimScalingAspect>;
  /** instantiationLevelId → aspectId → scale level (tosca.policies.nfv.InstantiationLevels). */
  instantiationLevels?: Record<string, Record<string, number>>;
  /** Deployment flavours; any flavourId is accepted when not given. */
  flavourIds?: string[];
  /** A CNF package's Kubernetes object files (Files/kubernetes/…): path in the package → YAML text. */
  kubernetesFiles?: Record<string, string>;
  vnfProvider?: string;
  vnfProductName?: string;
  vnfSoftwareVersion?: string;
  vnfdVersion?: string;
}

export interface VmCreateRequest {
  vnfInstanceId: string;
  vduId: string;
  /** Index of the VNFC within its VDU; a healed VNFC keeps its index. */
  index: number;
  name: string;
}

export interface CreatedVm {
  serverId: string;
  address: string;
  network: string;
}

/** What backs a simulated server: a lab VM in integration tests, a fake in unit tests. */
export interface VmProvider {
  create(request: VmCreateRequest): Promise<CreatedVm>;
  destroy(serverId: string): Promise<void>;
}

export interface SimVnfc {
  /** v2: the Nova server id (openstack.py keys vnfcResourceInfo by physical_resource_id); v1: a UUID kept across heals. */
  resourceInfoId: string;
  vduId: string;
  index: number;
  serverId: string;
  createdAt: number;
  /** Creation order, newest highest; v2 lists and scales in newest first. */
  sequence: number;
  /** computeResource.vimLevelResourceType: OS::Nova::Server when absent; a CNF's pods name their VDU's kind (Deployment). */
  vimLevelResourceType?: string;
  /** computeResource.vimConnectionId: the default OpenStack VIM's ID when absent. */
  vimConnectionId?: string;
}

/** What a CNF's instantiation put on its Kubernetes VIM. */
export interface SimCnfPlacement {
  vimConnectionInfo: Record<string, Record<string, unknown>>;
  namespace: string;
  /** The definition files' objects in creation order, as created. */
  objects: Array<{ apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [field: string]: unknown }; [field: string]: unknown }>;
}

export interface SimVnfInstance {
  api: TackerApi;
  id: string;
  vnfdId: string;
  vnfInstanceName?: string;
  vnfInstanceDescription?: string;
  metadata?: Record<string, unknown>;
  instantiationState: 'NOT_INSTANTIATED' | 'INSTANTIATED';
  /** Set by instantiate and kept after terminate (v2 keeps `flavourId` in the STOPPED instantiatedVnfInfo). */
  flavourId?: string;
  scaleLevels: Record<string, number>;
  vnfcs: SimVnfc[];
  /** The instantiate request's additionalParams (v1 shows them in instantiatedVnfInfo). */
  additionalParams?: Record<string, unknown>;
  /** An LCM operation holds the instance (Tacker's per-instance coordination lock). */
  isLocked: boolean;
  /** Set while a CNF is instantiated. */
  cnf?: SimCnfPlacement;
}

export interface SimOpOcc {
  api: TackerApi;
  id: string;
  vnfInstanceId: string;
  operation: LcmOperation;
  operationState: LcmOperationState;
  startTime: number;
  stateEnteredTime: number;
  /** As the API stores it: the v2 request object, or v1's JSON text. */
  operationParams: unknown;
  isAutomaticInvocation: boolean | string;
  /** As the API stores it (ProblemDetails in both; v1 notifications carry it as plain text). */
  error?: Record<string, unknown>;
  affectedVnfcs?: Array<Record<string, unknown>>;
  /** Every state entered, in order (not part of any API answer). */
  stateHistory: LcmOperationState[];
}

export interface SubscriptionAuthentication {
  authType: string[];
  paramsBasic?: { userName?: string; password?: string };
  paramsOauth2ClientCredentials?: { clientId?: string; clientPassword?: string; tokenEndpoint?: string };
}

export interface SimSubscription {
  api: TackerApi;
  id: string;
  callbackUri: string;
  filter?: Record<string, unknown>;
  /** v2 only; v1 has no verbosity. */
  verbosity?: 'FULL' | 'SHORT';
  authentication?: SubscriptionAuthentication;
}

export const DEFAULT_MAX_SCALE_LEVEL = 10;

export function vduInitialCounts(vnfd: SimVnfd, levels: Record<string, number>): Map<string, number> {
  const counts = new Map(vnfd.vdus.map((vdu) => [vdu.vduId, vdu.initialInstances]));
  for (const [aspectId, level] of Object.entries(levels)) {
    const aspect = vnfd.scalingAspects?.[aspectId];
    if (aspect === undefined) continue;
    counts.set(aspect.vduId, (counts.get(aspect.vduId) ?? 0) + aspect.stepDelta * level);
  }
  return counts;
}

/** Scale level per aspect at instantiation: from the instantiation level, 0 otherwise. */
export function initialScaleLevels(vnfd: SimVnfd, instantiationLevelId: string | undefined): Record<string, number> | undefined {
  const levels: Record<string, number> = {};
  for (const aspectId of Object.keys(vnfd.scalingAspects ?? {})) levels[aspectId] = 0;
  if (instantiationLevelId === undefined) return levels;
  const defined = vnfd.instantiationLevels?.[instantiationLevelId];
  if (defined === undefined) return undefined;
  return { ...levels, ...defined };
}

export function maxScaleLevel(vnfd: SimVnfd, aspectId: string): number {
  return vnfd.scalingAspects?.[aspectId]?.maxScaleLevel ?? DEFAULT_MAX_SCALE_LEVEL;
}

export function isFlavourKnown(vnfd: SimVnfd, flavourId: string): boolean {
  return vnfd.flavourIds === undefined || vnfd.flavourIds.includes(flavourId);
}
