import { isRecord, serverMetadataFromParams, type AddContext, type LcmEngine } from './lcm-engine.js';
import { initialScaleLevels, vduInitialCounts, type SimVnfc, type SimVnfd, type SimVnfInstance } from './vnf-model.js';

/** What an LCM operation does on the VIM, separated from how each API reports it. */
export interface LcmWork {
  /** The Heat stack operation behind it, for the error a failure reports. */
  stackOperation: 'create' | 'update' | 'delete';
  /** Makes the VIM changes; returns the instance's VNFCs afterwards. */
  apply: () => Promise<SimVnfc[]>;
  /** Updates the instance's other fields; called only when apply succeeded. */
  commit: () => void;
}

export interface WorkTarget {
  engine: LcmEngine;
  instance: SimVnfInstance;
  vnfd: SimVnfd;
}

function addContext(target: WorkTarget, existing: SimVnfc[], additionalParams: unknown): AddContext {
  return { instance: target.instance, vnfd: target.vnfd, existing, metadataFor: serverMetadataFromParams(additionalParams) };
}

export interface InstantiateParams {
  flavourId: string;
  instantiationLevelId?: string;
  additionalParams?: unknown;
}

/** Callers check the instantiation level first; an unknown one makes no servers. */
export function instantiateWork(target: WorkTarget, params: InstantiateParams): LcmWork {
  const levels = initialScaleLevels(target.vnfd, params.instantiationLevelId) ?? {};
  return {
    stackOperation: 'create',
    apply: async () => {
      const made: SimVnfc[] = [];
      for (const [vduId, count] of vduInitialCounts(target.vnfd, levels)) {
        made.push(...(await target.engine.addVnfcs(addContext(target, made, params.additionalParams), vduId, count)));
      }
      return made;
    },
    commit: () => {
      target.instance.instantiationState = 'INSTANTIATED';
      target.instance.flavourId = params.flavourId;
      target.instance.scaleLevels = levels;
      if (isRecord(params.additionalParams)) target.instance.additionalParams = params.additionalParams;
    },
  };
}

export interface ScaleParams {
  type: 'SCALE_OUT' | 'SCALE_IN';
  aspectId: string;
  numberOfSteps: number;
  additionalParams?: unknown;
}

/**
 * Scale-in victims: v2 removes the newest VNFCs (vnflcm_driver_v2._make_scale_in_grant_request,
 * with vnfcResourceInfo sorted newest first); v1's Heat AutoScalingGroup removes the oldest unless
 * `is_reverse` is requested.
 */
export function scaleWork(target: WorkTarget, params: ScaleParams, removeNewestFirst: boolean): LcmWork {
  const aspect = target.vnfd.scalingAspects?.[params.aspectId];
  const count = (aspect?.stepDelta ?? 0) * params.numberOfSteps;
  const vduId = aspect?.vduId ?? '';
  const existing = [...target.instance.vnfcs];
  return {
    stackOperation: 'update',
    apply: async () => {
      if (params.type === 'SCALE_OUT') return [...existing, ...(await target.engine.addVnfcs(addContext(target, existing, params.additionalParams), vduId, count))];
      const ofVdu = existing.filter((vnfc) => vnfc.vduId === vduId).sort((a, b) => (removeNewestFirst ? b.sequence - a.sequence : a.sequence - b.sequence));
      const victims = new Set(ofVdu.slice(0, count));
      for (const victim of victims) await target.engine.removeVnfc(victim);
      return existing.filter((vnfc) => !victims.has(vnfc));
    },
    commit: () => {
      const delta = params.type === 'SCALE_IN' ? -params.numberOfSteps : params.numberOfSteps;
      target.instance.scaleLevels[params.aspectId] = (target.instance.scaleLevels[params.aspectId] ?? 0) + delta;
    },
  };
}

/** Each target server is replaced; v1 keeps the vnfcResourceInfo id, v2 gets the new server's. */
export function healWork(target: WorkTarget, targets: SimVnfc[], additionalParams: unknown): LcmWork {
  const existing = [...target.instance.vnfcs];
  return {
    stackOperation: 'update',
    apply: async () => {
      const replaced = new Map<SimVnfc, SimVnfc>();
      for (const old of targets) {
        replaced.set(old, await target.engine.replaceVnfc(addContext(target, existing, additionalParams), old, target.instance.api === 'v1'));
      }
      return existing.map((vnfc) => replaced.get(vnfc) ?? vnfc);
    },
    commit: () => undefined,
  };
}

export function terminateWork(target: WorkTarget): LcmWork {
  const existing = [...target.instance.vnfcs];
  return {
    stackOperation: 'delete',
    apply: async () => {
      for (const vnfc of existing) await target.engine.removeVnfc(vnfc);
      return [];
    },
    commit: () => {
      target.instance.instantiationState = 'NOT_INSTANTIATED';
      target.instance.scaleLevels = {};
      delete target.instance.additionalParams;
    },
  };
}

/** Newest first, as v2's openstack driver sorts vnfcResourceInfo (by vdu_idx, creation_time, reversed). */
export function newestFirst(vnfcs: SimVnfc[]): SimVnfc[] {
  return [...vnfcs].sort((a, b) => b.sequence - a.sequence);
}
