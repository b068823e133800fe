import { parseAllDocuments } from 'yaml';
import type { Clock } from '../../../src/clock.js';
import type { KubernetesVim } from './kubernetes-vim.js';
import { isRecord } from './lcm-engine.js';
import type { InstantiateParams, LcmWork, ScaleParams } from './lcm-work.js';
import { initialScaleLevels, vduInitialCounts, type SimCnfPlacement, type SimVnfc, type SimVnfd, type SimVnfInstance } from './vnf-model.js';

/**
 * The CNF half of Tacker v2's LCM (tacker/sol_refactored/infra_drivers/kubernetes): a package with
 * Kubernetes definition files, instantiated on a Kubernetes VIM. Instantiate creates the files'
 * objects in the order `additionalParams.lcm-kubernetes-def-files` lists them, in the namespace
 * chosen by priority (additionalParams.namespace, the manifests' own, `default`), with each VDU's
 * Deployment at the VDU's instance count; it ends when the pods are ready. Scale changes the
 * aspect's Deployment by the aspect's delta; terminate deletes the objects in reverse order. Each
 * pod is one vnfcResourceInfo: its name is the id and the resourceId, the kind is the
 * vimLevelResourceType.
 */

export const KUBERNETES_DEF_FILES_KEY = 'lcm-kubernetes-def-files';
/** vimTypes of a Kubernetes VIM Tacker v2 accepts: the ETSI registry's and its own older name. */
export const KUBERNETES_VIM_TYPES = ['ETSINFV.KUBERNETES.V_1', 'kubernetes'];
const DEFAULT_NAMESPACE = 'default';
const CLUSTER_SCOPED_KINDS = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'PersistentVolume', 'StorageClass', 'PriorityClass']);

type Manifest = SimCnfPlacement['objects'][number];

export function isCnfPackage(vnfd: SimVnfd): boolean {
  return vnfd.kubernetesFiles !== undefined;
}

/** Why Tacker would refuse this instantiate request for a CNF package, or undefined. */
export function cnfRequestProblem(vnfd: SimVnfd, request: { vimConnectionInfo?: unknown; additionalParams?: unknown }, vim: KubernetesVim | undefined): string | undefined {
  const connections = isRecord(request.vimConnectionInfo) ? Object.values(request.vimConnectionInfo).filter(isRecord) : [];
  const connection = connections.find((candidate) => typeof candidate.vimType === 'string' && KUBERNETES_VIM_TYPES.includes(candidate.vimType));
  if (connection === undefined) return `vimConnectionInfo must name a VIM of type ${KUBERNETES_VIM_TYPES.join(' or ')} for a CNF.`;
  if (vim === undefined || connection.vimId !== vim.vimId) return `VIM ${String(connection.vimId)} not found.`;
  const files: unknown = isRecord(request.additionalParams) ? request.additionalParams[KUBERNETES_DEF_FILES_KEY] : undefined;
  if (!Array.isArray(files) || files.length === 0) return `'${KUBERNETES_DEF_FILES_KEY}' must be specified in additionalParams.`;
  const missing: unknown = (files as unknown[]).find((file) => typeof file !== 'string' || vnfd.kubernetesFiles?.[file] === undefined);
  return missing === undefined ? undefined : `CNF definition file ${JSON.stringify(missing)} is not in the VNF package.`;
}

export interface CnfTarget {
  vim: KubernetesVim;
  instance: SimVnfInstance;
  vnfd: SimVnfd;
  clock: Clock;
}

function definitionObjects(vnfd: SimVnfd, files: string[]): Manifest[] {
  return files.flatMap((file) => parseAllDocuments(vnfd.kubernetesFiles?.[file] ?? '').map((document) => document.toJS() as Manifest).filter((object) => isRecord(object)));
}

function namespaceFor(additionalParams: unknown, objects: Manifest[]): string {
  const requested = isRecord(additionalParams) ? additionalParams.namespace : undefined;
  if (typeof requested === 'string' && requested !== '') return requested;
  const own = new Set(objects.map((object) => object.metadata.namespace).filter((namespace): namespace is string => namespace !== undefined));
  if (own.size > 1) throw new Error(`The definition files name several namespaces (${[...own].join(', ')}).`);
  return [...own][0] ?? DEFAULT_NAMESPACE;
}

function vduOfDeployment(vnfd: SimVnfd, name: string): string | undefined {
  return vnfd.vdus.find((vdu) => vdu.k8sName === name)?.vduId;
}

function deploymentOfVdu(vnfd: SimVnfd, vduId: string): string {
  const name = vnfd.vdus.find((vdu) => vdu.vduId === vduId)?.k8sName;
  if (name === undefined) throw new Error(`VDU ${vduId} names no Kubernetes resource (properties.name).`);
  return name;
}

/** The VDU's pods as VNFCs; a pod that was a VNFC before stays the same one. */
function podVnfcs(target: CnfTarget, vduId: string, podNames: string[], existing: SimVnfc[]): SimVnfc[] {
  const known = new Map(existing.map((vnfc) => [vnfc.serverId, vnfc]));
  let sequence = Math.max(0, ...existing.map((vnfc) => vnfc.sequence));
  return podNames.map((podName, index) => {
    const kept = known.get(podName);
    if (kept !== undefined) return kept;
    sequence += 1;
    return { resourceInfoId: podName, vduId, index, serverId: podName, createdAt: target.clock.now(), sequence, vimLevelResourceType: 'Deployment', vimConnectionId: target.vim.vimId };
  });
}

export function cnfInstantiateWork(target: CnfTarget, params: InstantiateParams & { vimConnectionInfo?: unknown }): LcmWork {
  const levels = initialScaleLevels(target.vnfd, params.instantiationLevelId) ?? {};
  const counts = vduInitialCounts(target.vnfd, levels);
  const files = (isRecord(params.additionalParams) ? params.additionalParams[KUBERNETES_DEF_FILES_KEY] : []) as string[];
  let placement: SimCnfPlacement | undefined;
  return {
    stackOperation: 'create',
    apply: async () => {
      const objects = definitionObjects(target.vnfd, files);
      const namespace = namespaceFor(params.additionalParams, objects);
      const created: Manifest[] = [];
      for (const object of objects) {
        const placed: Manifest = CLUSTER_SCOPED_KINDS.has(object.kind) ? object : { ...object, metadata: { ...object.metadata, namespace } };
        const vduId = object.kind === 'Deployment' ? vduOfDeployment(target.vnfd, object.metadata.name) : undefined;
        if (vduId !== undefined) placed.spec = { ...(isRecord(placed.spec) ? placed.spec : {}), replicas: counts.get(vduId) ?? 1 };
        await target.vim.create(placed);
        created.push(placed);
      }
      const vnfcs: SimVnfc[] = [];
      for (const object of created.filter((candidate) => candidate.kind === 'Deployment')) {
        const vduId = vduOfDeployment(target.vnfd, object.metadata.name);
        if (vduId === undefined) continue;
        vnfcs.push(...podVnfcs(target, vduId, await target.vim.readyPods(namespace, object.metadata.name, counts.get(vduId) ?? 1), vnfcs));
      }
      placement = { vimConnectionInfo: (isRecord(params.vimConnectionInfo) ? params.vimConnectionInfo : {}) as SimCnfPlacement['vimConnectionInfo'], namespace, objects: created };
      return vnfcs;
    },
    commit: () => {
      target.instance.instantiationState = 'INSTANTIATED';
      target.instance.flavourId = params.flavourId;
      target.instance.scaleLevels = levels;
      if (isRecord(params.additionalParams)) target.instance.additionalParams = params.additionalParams;
      if (placement !== undefined) target.instance.cnf = placement;
    },
  };
}

export function cnfScaleWork(target: CnfTarget, params: ScaleParams): LcmWork {
  const aspect = target.vnfd.scalingAspects?.[params.aspectId];
  const existing = [...target.instance.vnfcs];
  return {
    stackOperation: 'update',
    apply: async () => {
      const namespace = target.instance.cnf?.namespace ?? DEFAULT_NAMESPACE;
      const vduId = aspect?.vduId ?? '';
      const name = deploymentOfVdu(target.vnfd, vduId);
      const ofVdu = existing.filter((vnfc) => vnfc.vduId === vduId);
      const delta = (aspect?.stepDelta ?? 0) * params.numberOfSteps * (params.type === 'SCALE_IN' ? -1 : 1);
      const replicas = ofVdu.length + delta;
      await target.vim.scale(namespace, name, replicas);
      const pods = podVnfcs(target, vduId, await target.vim.readyPods(namespace, name, replicas), ofVdu);
      return [...existing.filter((vnfc) => vnfc.vduId !== vduId), ...pods];
    },
    commit: () => {
      const steps = params.type === 'SCALE_IN' ? -params.numberOfSteps : params.numberOfSteps;
      target.instance.scaleLevels[params.aspectId] = (target.instance.scaleLevels[params.aspectId] ?? 0) + steps;
    },
  };
}

export function cnfTerminateWork(target: CnfTarget): LcmWork {
  const objects = [...(target.instance.cnf?.objects ?? [])].reverse();
  return {
    stackOperation: 'delete',
    apply: async () => {
      for (const object of objects) await target.vim.delete(object);
      return [];
    },
    commit: () => {
      target.instance.instantiationState = 'NOT_INSTANTIATED';
      target.instance.scaleLevels = {};
      delete target.instance.additionalParams;
      delete target.instance.cnf;
    },
  };
}
