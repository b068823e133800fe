/**
 * The orchestrator's view of a Kubernetes object: only what it writes and reads back. Everything
 * else a server adds (status, managedFields, uid) may be present on objects read from a cluster and
 * is carried along untouched.
 */
export interface KubeObjectMetadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: KubeObjectMetadata;
  [field: string]: unknown;
}

/** Identifies one object in a cluster; namespace is absent for cluster-scoped kinds (Namespace). */
export interface KubeObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

export function objectRef(object: KubeObject): KubeObjectRef {
  const { apiVersion, kind, metadata } = object;
  return metadata.namespace === undefined ? { apiVersion, kind, name: metadata.name } : { apiVersion, kind, name: metadata.name, namespace: metadata.namespace };
}

/** `Kind/namespace/name` (`Kind/name` when cluster-scoped): a stable key for maps, plans and messages. */
export function objectKey(ref: KubeObjectRef | KubeObject): string {
  const plain = 'metadata' in ref ? objectRef(ref) : ref;
  return plain.namespace === undefined ? `${plain.kind}/${plain.name}` : `${plain.kind}/${plain.namespace}/${plain.name}`;
}
