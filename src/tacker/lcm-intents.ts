import type { NormalizedAffectedVnfc, VnfcChangeType } from './affected-vnfc.js';
import type { LcmOperationState } from './sol003-fields.js';
import type { NormalizedLcmNotification } from './sol003-notification.js';
import type { NormalizedLcmOpOcc } from './vnf-lcm-op-occ.js';

/**
 * Turns what Tacker reports about an LCM operation into the per-VM work this service does.
 * Only a COMPLETED operation that can add, replace or remove servers is acted on: STARTING,
 * PROCESSING and FAILED_TEMP are intermediate (FAILED_TEMP may still be retried or rolled back),
 * FAILED and ROLLED_BACK leave the VNF as it was.
 */
export const ACTED_ON_OPERATIONS = ['INSTANTIATE', 'SCALE', 'SCALE_TO_LEVEL', 'HEAL', 'CHANGE_EXT_CONN', 'CHANGE_VNFPKG', 'TERMINATE'] as const;

/** Heat's type for a Nova server; VNFCs of a Kubernetes VIM are pods, which Istio injects itself. */
export const NOVA_SERVER_RESOURCE_TYPE = 'OS::Nova::Server';

export type IntentAction = 'inject' | 'remove';

export interface LcmIntent {
  action: IntentAction;
  /** Nova server UUID (`computeResource.resourceId`). */
  serverId: string;
  vduId: string;
  vnfcId: string;
  /**
   * `${vnfLcmOpOccId}:${operationState}:${serverId}:${action}`: the same for every copy of one
   * change, however it arrived (v1 resends, duplicate v2 subscriptions, reconciliation reading
   * the operation occurrence). Notification ids are not usable: v1 reuses one id for all subscriptions.
   */
  dedupKey: string;
}

export type OpOccIntentDecision = { decision: 'act'; intents: LcmIntent[] } | { decision: 'ignore'; reason: string };
export type IntentDecision = OpOccIntentDecision | { decision: 'needs-op-occ' };

/**
 * ADDED and MODIFIED servers (a v1 heal reports the rebuilt server as MODIFIED, tacker/vnflcm/utils.py
 * `_get_affected_resources`) get a sidecar; REMOVED and TEMPORARY ones are deregistered.
 */
const ACTION_BY_CHANGE: Record<VnfcChangeType, IntentAction> = { ADDED: 'inject', MODIFIED: 'inject', REMOVED: 'remove', TEMPORARY: 'remove' };

export function intentsFromNotification(notification: NormalizedLcmNotification): IntentDecision {
  const reason = reasonToIgnore(notification.operation, notification.operationState);
  if (reason !== undefined) return { decision: 'ignore', reason };
  // Absent with SHORT verbosity, or when a v1 SCALE changed no VNFC: the operation occurrence is authoritative.
  if (notification.affectedVnfcs === undefined) return { decision: 'needs-op-occ' };
  return decide(notification.vnfLcmOpOccId, notification.operationState, notification.affectedVnfcs);
}

export function intentsFromOpOcc(opOcc: NormalizedLcmOpOcc): OpOccIntentDecision {
  const reason = reasonToIgnore(opOcc.operation, opOcc.operationState);
  if (reason !== undefined) return { decision: 'ignore', reason };
  if (opOcc.affectedVnfcs === undefined) return { decision: 'ignore', reason: 'The operation occurrence reports no affected VNFCs.' };
  return decide(opOcc.id, opOcc.operationState, opOcc.affectedVnfcs);
}

function reasonToIgnore(operation: string, operationState: LcmOperationState): string | undefined {
  if (operationState !== 'COMPLETED') return `Operation state ${operationState} is not a completed change.`;
  if (!(ACTED_ON_OPERATIONS as readonly string[]).includes(operation)) return `Operation ${operation} does not add or remove servers.`;
  return undefined;
}

function decide(vnfLcmOpOccId: string, operationState: LcmOperationState, vnfcs: NormalizedAffectedVnfc[]): OpOccIntentDecision {
  const intents = new Map<string, LcmIntent>();
  for (const vnfc of vnfcs) {
    if (!isNovaServer(vnfc)) continue;
    const action = ACTION_BY_CHANGE[vnfc.changeType];
    const dedupKey = `${vnfLcmOpOccId}:${operationState}:${vnfc.serverId}:${action}`;
    if (!intents.has(dedupKey)) intents.set(dedupKey, { action, serverId: vnfc.serverId, vduId: vnfc.vduId, vnfcId: vnfc.vnfcId, dedupKey });
  }
  if (intents.size === 0) return { decision: 'ignore', reason: 'No OpenStack server was added, changed or removed.' };
  return { decision: 'act', intents: [...intents.values()] };
}

/** Tacker's OpenStack drivers always set the type; an entry without one is taken to be a server. */
function isNovaServer(vnfc: NormalizedAffectedVnfc): boolean {
  return vnfc.vimLevelResourceType === undefined || vnfc.vimLevelResourceType === NOVA_SERVER_RESOURCE_TYPE;
}
