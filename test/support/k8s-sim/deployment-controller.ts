import { createHash, randomInt } from 'node:crypto';
import type { KubeObject } from './server-side-apply.js';

/**
 * What kube-controller-manager's Deployment and ReplicaSet controllers, the scheduler, the kubelet
 * and Istio's injection webhook together do to a Deployment, collapsed into pure functions the
 * simulator calls right after each write: the Pods a Deployment should have, with the sidecar the
 * webhook would add, and the status the Deployment reports. Pods are owned by the Deployment
 * directly (no ReplicaSets are served), and a changed template replaces every Pod at once.
 */

export const ISTIO_PROXY_IMAGE = 'docker.io/istio/proxyv2:1.28.0';
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';
/** Upstream's rand.SafeEncodeString alphabet: no vowels, no look-alikes. */
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

type Labels = Record<string, string>;

interface PodTemplate {
  metadata?: { labels?: Labels; annotations?: Labels };
  spec?: { containers?: { name: string; image?: string }[]; [field: string]: unknown };
}

function safeEncode(bytes: Buffer, length: number): string {
  return [...bytes.subarray(0, length)].map((byte) => SAFE_ALPHABET[byte % SAFE_ALPHABET.length]).join('');
}

export function templateOf(deployment: KubeObject): PodTemplate {
  return ((deployment.spec as { template?: PodTemplate } | undefined)?.template ?? {});
}

/** Stands in for the ReplicaSet's pod-template-hash: the same template always gives the same hash. */
export function podTemplateHash(deployment: KubeObject): string {
  return safeEncode(createHash('sha256').update(JSON.stringify(templateOf(deployment))).digest(), 10);
}

/**
 * Istio's webhook selection with the default revision: a namespace labelled
 * istio-injection=enabled or istio.io/rev=<any> gets sidecars, and a Pod opts out with
 * sidecar.istio.io/inject: "false" (as a label, or as the older annotation).
 */
export function isInjected(namespaceLabels: Labels | undefined, template: PodTemplate): boolean {
  const labels = namespaceLabels ?? {};
  const isNamespaceEnabled = labels['istio-injection'] === 'enabled' || (labels['istio-injection'] !== 'disabled' && labels['istio.io/rev'] !== undefined);
  const optOut = template.metadata?.labels?.['sidecar.istio.io/inject'] ?? template.metadata?.annotations?.['sidecar.istio.io/inject'];
  return isNamespaceEnabled && optOut !== 'false';
}

function containerStatuses(pod: KubeObject, isReady: boolean): Record<string, unknown>[] {
  const containers = ((pod.spec as { containers?: { name: string; image?: string }[] }).containers ?? []);
  return containers.map((container) => ({
    name: container.name,
    image: container.image ?? '',
    ready: isReady,
    started: true,
    restartCount: 0,
    state: { running: { startedAt: pod.metadata.creationTimestamp } },
  }));
}

/** A Running Pod whose Ready condition follows `isReady` (a readiness probe that fails or passes). */
export function podStatus(pod: KubeObject, isReady: boolean, podIP: string): Record<string, unknown> {
  const time = pod.metadata.creationTimestamp;
  const condition = (type: string, status: boolean): Record<string, unknown> => ({ type, status: status ? 'True' : 'False', lastTransitionTime: time });
  return {
    phase: 'Running',
    conditions: [condition('PodScheduled', true), condition('Initialized', true), condition('ContainersReady', isReady), condition('Ready', isReady)],
    hostIP: '198.51.100.250',
    podIP,
    podIPs: [{ ip: podIP }],
    startTime: time,
    containerStatuses: containerStatuses(pod, isReady),
  };
}

function sidecarContainer(): Record<string, unknown> {
  return {
    name: 'istio-proxy',
    image: ISTIO_PROXY_IMAGE,
    args: ['proxy', 'sidecar', '--domain', '$(POD_NAMESPACE).svc.cluster.local'],
    ports: [{ containerPort: 15090, name: 'http-envoy-prom', protocol: 'TCP' }],
    readinessProbe: { httpGet: { path: '/healthz/ready', port: 15021 } },
  };
}

export interface PodInput {
  deployment: KubeObject;
  hash: string;
  namespaceLabels: Labels | undefined;
  uid: string;
  time: string;
}

/** The Pod as admission leaves it (sidecar injected), before the kubelet reports status. */
export function buildPod(input: PodInput): KubeObject {
  const { deployment, hash } = input;
  const template = templateOf(deployment);
  const deploymentName = String(deployment.metadata.name);
  const name = `${deploymentName}-${hash}-${[...Array(5).keys()].map(() => SAFE_ALPHABET[randomInt(SAFE_ALPHABET.length)]).join('')}`;
  const injected = isInjected(input.namespaceLabels, template);
  const labels: Labels = { ...(template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash };
  const annotations: Labels = { ...(template.metadata?.annotations ?? {}) };
  const spec = structuredClone(template.spec ?? {});
  if (injected) {
    labels['security.istio.io/tlsMode'] = 'istio';
    labels['service.istio.io/canonical-name'] = labels.app ?? labels['app.kubernetes.io/name'] ?? deploymentName;
    annotations['sidecar.istio.io/status'] = JSON.stringify({ containers: ['istio-proxy'], revision: input.namespaceLabels?.['istio.io/rev'] ?? 'default' });
    spec.containers = [...(spec.containers ?? []), sidecarContainer() as { name: string }];
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: deployment.metadata.namespace,
      labels,
      ...(Object.keys(annotations).length === 0 ? {} : { annotations }),
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: deploymentName, uid: deployment.metadata.uid, controller: true, blockOwnerDeletion: true }],
    },
    spec: { serviceAccountName: 'default', nodeName: 'k8s-sim-node', restartPolicy: 'Always', ...spec },
  };
}

export function isOwnedBy(pod: KubeObject, deployment: KubeObject): boolean {
  const owners = (pod.metadata.ownerReferences as { uid?: unknown }[] | undefined) ?? [];
  return owners.some((owner) => owner.uid === deployment.metadata.uid);
}

function isPodReady(pod: KubeObject): boolean {
  const conditions = ((pod.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []);
  return conditions.some((condition) => condition.type === 'Ready' && condition.status === 'True');
}

/** The Deployment's status for its current Pods, conditions as the Deployment controller words them. */
export function deploymentStatus(deployment: KubeObject, pods: KubeObject[], time: string): Record<string, unknown> {
  const replicas = Number((deployment.spec as { replicas?: number }).replicas ?? 1);
  const ready = pods.filter(isPodReady).length;
  const isAvailable = ready >= replicas;
  const isComplete = isAvailable && pods.length === replicas;
  return {
    observedGeneration: deployment.metadata.generation,
    replicas: pods.length,
    updatedReplicas: pods.length,
    readyReplicas: ready,
    availableReplicas: ready,
    ...(ready < pods.length ? { unavailableReplicas: pods.length - ready } : {}),
    conditions: [
      {
        type: 'Available',
        status: isAvailable ? 'True' : 'False',
        reason: isAvailable ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
        message: isAvailable ? 'Deployment has minimum availability.' : 'Deployment does not have minimum availability.',
        lastUpdateTime: time,
        lastTransitionTime: time,
      },
      {
        type: 'Progressing',
        status: 'True',
        reason: isComplete ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated',
        message: isComplete ? `ReplicaSet "${String(deployment.metadata.name)}" has successfully progressed.` : `ReplicaSet "${String(deployment.metadata.name)}" is progressing.`,
        lastUpdateTime: time,
        lastTransitionTime: time,
      },
    ],
  };
}
