import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import type { ClusterObjects } from '../../../src/orchestrator/cluster-objects.js';
import type { KubeObject } from '../../../src/orchestrator/kube-object.js';
import { KubernetesClusterObjects } from '../../../src/orchestrator/kubernetes-cluster-objects.js';

/**
 * A Kubernetes VIM as Tacker's conductor reaches it: over the cluster's API with the VIM's own
 * credentials (here the Kubernetes simulator, through its kubeconfig). Tacker v2's kubernetes
 * driver creates the definition files' objects in order, waits for them to be ready, and deletes
 * them in reverse order on terminate; scaling patches a Deployment's replicas and waits again.
 */
export interface KubernetesVim {
  /** The VIM's ID, as a registered Tacker VIM of type kubernetes has one. */
  readonly vimId: string;
  create(object: KubeObject): Promise<void>;
  delete(object: KubeObject): Promise<void>;
  /** Sets the Deployment's replicas (the scale subresource's effect). */
  scale(namespace: string, name: string, replicas: number): Promise<void>;
  /** Names of the Deployment's pods once `replicas` of them exist and are Ready; throws when that takes longer than the VIM's readiness timeout. */
  readyPods(namespace: string, name: string, replicas: number): Promise<string[]>;
}

const POD = { apiVersion: 'v1', kind: 'Pod' };
const DEPLOYMENT = { apiVersion: 'apps/v1', kind: 'Deployment' };
// Tacker's [v2_vnfm] kubernetes_vim_rsc_wait_timeout is 500 s; a simulator run needs far less.
const READY_TIMEOUT_MS = 20_000;
const READY_CHECK_INTERVAL_MS = 100;

function isPodReady(pod: KubeObject): boolean {
  const conditions = (pod.status as { conditions?: { type?: string; status?: string }[] } | undefined)?.conditions ?? [];
  return conditions.some((condition) => condition.type === 'Ready' && condition.status === 'True');
}

class ClusterVim implements KubernetesVim {
  constructor(
    readonly vimId: string,
    private readonly cluster: ClusterObjects,
  ) {}

  async create(object: KubeObject): Promise<void> {
    await this.cluster.apply(object);
  }

  async delete(object: KubeObject): Promise<void> {
    const { name, namespace } = object.metadata;
    await this.cluster.delete({ apiVersion: object.apiVersion, kind: object.kind, name, ...(namespace === undefined ? {} : { namespace }) });
  }

  async scale(namespace: string, name: string, replicas: number): Promise<void> {
    const deployment = await this.cluster.get({ ...DEPLOYMENT, namespace, name });
    if (deployment === undefined) throw new Error(`Deployment ${namespace}/${name} not found`);
    await this.cluster.apply({ ...DEPLOYMENT, metadata: { name, namespace }, spec: { ...(deployment.spec ?? {}), replicas } });
  }

  async readyPods(namespace: string, name: string, replicas: number): Promise<string[]> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      const deployment = await this.cluster.get({ ...DEPLOYMENT, namespace, name });
      const selector = (deployment?.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)?.selector?.matchLabels ?? {};
      const pods = (await this.cluster.list(POD, { namespace, labels: selector })).filter((pod) => isOwnedBy(pod, name));
      if (pods.length === replicas && pods.every(isPodReady)) return pods.map((pod) => pod.metadata.name).sort();
      if (Date.now() > deadline) throw new Error(`Deployment ${namespace}/${name} has ${pods.filter(isPodReady).length}/${replicas} pods ready after ${READY_TIMEOUT_MS} ms`);
      await sleep(READY_CHECK_INTERVAL_MS);
    }
  }
}

function isOwnedBy(pod: KubeObject, deployment: string): boolean {
  const owners = (pod.metadata as { ownerReferences?: { kind?: string; name?: string }[] }).ownerReferences ?? [];
  return owners.some((owner) => owner.kind === 'Deployment' && owner.name === deployment);
}

/** A Kubernetes VIM over the cluster this kubeconfig names, with Tacker's own field manager. */
export function kubernetesVim(vimId: string, kubeConfig: KubeConfig): KubernetesVim {
  return new ClusterVim(vimId, new KubernetesClusterObjects({ kubeConfig, fieldManager: 'tacker' }));
}
