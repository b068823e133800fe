import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type ConfigurationOptions, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../log.js';
import type { IstioCondition, MeshRegistry, RegisteredWorkloadEntry } from '../mesh-registry.js';
import type { IstioObjectMeta, WorkloadEntry, WorkloadGroup } from '../workload-objects.js';
import { boundedCall, DEFAULT_REQUEST_TIMEOUT_MS } from './kube-config.js';
import { callKubernetes, isApiStatus, type KubernetesOperation } from './kubernetes-errors.js';

/**
 * WorkloadGroups and WorkloadEntries in the cluster (networking.istio.io/v1). Groups are created
 * when absent and never replaced, since replacing one deletes every entry it owns (Istio users'
 * lesson 8). Entries are server-side applied under one field manager with force: this service
 * owns the fields it sets, and istiod's status writes are left alone.
 */

export const FIELD_MANAGER = 'vm-sidecar-injector';
const GROUP = 'networking.istio.io';
const VERSION = 'v1';
const WORKLOAD_GROUPS = 'workloadgroups';
const WORKLOAD_ENTRIES = 'workloadentries';

interface StoredObject {
  apiVersion: string;
  kind: string;
  metadata: IstioObjectMeta & { resourceVersion?: string };
  spec: unknown;
  status?: { conditions?: IstioCondition[] };
}

export interface KubernetesMeshRegistryOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Bound on each API call; DEFAULT_REQUEST_TIMEOUT_MS when absent. */
  requestTimeoutMs?: number;
}

export class KubernetesMeshRegistry implements MeshRegistry {
  private readonly api: CustomObjectsApi;
  private readonly logger: Logger;
  private readonly callOptions: ConfigurationOptions;

  constructor(options: KubernetesMeshRegistryOptions) {
    this.api = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.logger = options.logger;
    this.callOptions = boundedCall(options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  }

  async ensureWorkloadGroup(group: WorkloadGroup): Promise<'created' | 'exists'> {
    const { namespace, name } = group.metadata;
    const context = registryOperation('create WorkloadGroup', namespace, name);
    if ((await this.read(WORKLOAD_GROUPS, namespace, name)) !== undefined) return 'exists';
    const created = await callKubernetes(context, async () => {
      try {
        await this.api.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: WORKLOAD_GROUPS, body: group, fieldManager: FIELD_MANAGER }, this.callOptions);
        return true;
      } catch (error) {
        // Created by someone else between our read and our create: it exists, and it is not ours to change.
        if (isApiStatus(error, 409)) return false;
        throw error;
      }
    });
    if (created) this.logger.info('Created the WorkloadGroup.', { namespace, workloadGroup: name });
    return created ? 'created' : 'exists';
  }

  async applyWorkloadEntry(entry: WorkloadEntry): Promise<'created' | 'updated' | 'unchanged'> {
    const { namespace, name } = entry.metadata;
    const before = await this.read(WORKLOAD_ENTRIES, namespace, name);
    const after = await callKubernetes(registryOperation('apply WorkloadEntry', namespace, name), async () => {
      const answer = (await this.api.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace, plural: WORKLOAD_ENTRIES, name, body: entry, fieldManager: FIELD_MANAGER, force: true },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply, this.callOptions),
      )) as StoredObject;
      return answer;
    });
    const outcome = before === undefined ? 'created' : before.metadata.resourceVersion === after.metadata.resourceVersion ? 'unchanged' : 'updated';
    if (outcome !== 'unchanged') this.logger.info('Applied the WorkloadEntry.', { namespace, workloadEntry: name, outcome });
    return outcome;
  }

  async deleteWorkloadEntry(namespace: string, name: string): Promise<'deleted' | 'absent'> {
    const outcome = await callKubernetes(registryOperation('delete WorkloadEntry', namespace, name), async () => {
      try {
        await this.api.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: WORKLOAD_ENTRIES, name }, this.callOptions);
        return 'deleted' as const;
      } catch (error) {
        if (isApiStatus(error, 404)) return 'absent' as const;
        throw error;
      }
    });
    if (outcome === 'deleted') this.logger.info('Deleted the WorkloadEntry.', { namespace, workloadEntry: name });
    return outcome;
  }

  async getWorkloadEntry(namespace: string, name: string): Promise<RegisteredWorkloadEntry | undefined> {
    const stored = await this.read(WORKLOAD_ENTRIES, namespace, name);
    return stored === undefined ? undefined : asRegisteredEntry(stored);
  }

  private async read(plural: string, namespace: string, name: string): Promise<StoredObject | undefined> {
    const kind = plural === WORKLOAD_GROUPS ? 'WorkloadGroup' : 'WorkloadEntry';
    return callKubernetes(registryOperation(`get ${kind}`, namespace, name), async () => {
      try {
        return (await this.api.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name }, this.callOptions)) as StoredObject;
      } catch (error) {
        if (isApiStatus(error, 404)) return undefined;
        throw error;
      }
    });
  }
}

function registryOperation(verb: string, namespace: string, name: string): KubernetesOperation {
  return { operation: `${verb} ${namespace}/${name}`, code: 'REGISTRY_FAILED' };
}

/** What the file registry returns for the same entry: the applied object and istiod's status, without server bookkeeping. */
function asRegisteredEntry(stored: StoredObject): RegisteredWorkloadEntry {
  const { name, namespace, labels, annotations } = stored.metadata;
  const metadata: IstioObjectMeta = { name, namespace };
  if (labels !== undefined) metadata.labels = labels;
  if (annotations !== undefined) metadata.annotations = annotations;
  const entry: RegisteredWorkloadEntry = {
    apiVersion: stored.apiVersion as WorkloadEntry['apiVersion'],
    kind: 'WorkloadEntry',
    metadata,
    spec: stored.spec as WorkloadEntry['spec'],
  };
  if (stored.status?.conditions !== undefined) entry.status = { conditions: stored.status.conditions };
  return entry;
}
