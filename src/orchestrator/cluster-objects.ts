import type { KubeObject, KubeObjectRef } from './kube-object.js';

/** A kind the orchestrator lists, e.g. `{ apiVersion: 'apps/v1', kind: 'Deployment' }`. */
export interface KubeKind {
  apiVersion: string;
  kind: string;
}

/**
 * The orchestrator's port to a Kubernetes cluster. Writes are server-side apply with one fixed
 * field manager, so re-applying the same object is a no-op and concurrent owners are detected.
 * Errors are AppErrors with `retryable` set as the mesh registry's (409/429/5xx/connection
 * retryable; 403/422 not, with the API server's message).
 */
export interface ClusterObjects {
  /** Server-side apply; returns the object as the server stored it. */
  apply(object: KubeObject, options?: { signal?: AbortSignal }): Promise<KubeObject>;
  /** undefined when the object does not exist. */
  get(ref: KubeObjectRef, options?: { signal?: AbortSignal }): Promise<KubeObject | undefined>;
  /** Objects of one kind in a namespace (every namespace for cluster-scoped kinds) matching every label given. */
  list(kind: KubeKind, options: { namespace?: string; labels: Record<string, string>; signal?: AbortSignal }): Promise<KubeObject[]>;
  /** true when something was deleted, false when it was already gone. */
  delete(ref: KubeObjectRef, options?: { signal?: AbortSignal }): Promise<boolean>;
}
