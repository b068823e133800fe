import type { WorkloadEntry, WorkloadGroup } from './workload-objects.js';

/**
 * Where WorkloadGroups and WorkloadEntries live: the Kubernetes API, or manifests on disk for GitOps.
 * Every operation is idempotent so a job step can be retried after a crash at any point.
 */
export interface MeshRegistry {
  /**
   * Creates the group when it is missing and otherwise leaves it alone, whatever it holds: replacing
   * a WorkloadGroup deletes every entry it owns (Istio users' lesson 8).
   */
  ensureWorkloadGroup(group: WorkloadGroup): Promise<'created' | 'exists'>;
  /** Creates or converges the entry; 'unchanged' when it already matches and nothing was written. */
  applyWorkloadEntry(entry: WorkloadEntry): Promise<'created' | 'updated' | 'unchanged'>;
  deleteWorkloadEntry(namespace: string, name: string): Promise<'deleted' | 'absent'>;
  getWorkloadEntry(namespace: string, name: string): Promise<RegisteredWorkloadEntry | undefined>;
}

/** An Istio condition as istiod writes it into WorkloadEntry status (istio.meta.v1alpha1.IstioCondition). */
export interface IstioCondition {
  type: string;
  status: string;
  lastProbeTime?: string;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

/** A stored entry: what was applied, plus the status istiod reports (e.g. Healthy) where the store has one. */
export type RegisteredWorkloadEntry = WorkloadEntry & { status?: { conditions?: IstioCondition[] } };
