import { randomUUID } from 'node:crypto';
import type { Clock } from '../../../src/clock.js';
import type { CloudModel } from '../openstack-sim/cloud-model.js';
import type { SimVnfc, SimVnfd, SimVnfInstance, VmProvider } from './vnf-model.js';

export interface LcmEngineDeps {
  cloud: CloudModel;
  vms: VmProvider;
  clock: Clock;
}

export interface NewVnfcSpec {
  vduId: string;
  index: number;
  /** v1 keeps a healed VNFC's vnfcResourceInfo id; v2 derives it from the new server. */
  resourceInfoId?: string;
}

/**
 * Creates and removes servers for LCM operations: the VmProvider makes the machine, the CloudModel
 * records what Nova would report. Operations work on lists and return the new list, so a failed
 * operation leaves the instance as it was (Tacker updates the instance only on success), while the
 * servers already made stay in the cloud, as a half-done Heat stack leaves them.
 */
export class LcmEngine {
  private sequence = 0;

  constructor(private readonly deps: LcmEngineDeps) {}

  async createVnfc(instance: SimVnfInstance, vnfd: SimVnfd, spec: NewVnfcSpec, extraMetadata: Record<string, string>): Promise<SimVnfc> {
    const name = `${spec.vduId}-${spec.index}`;
    const vm = await this.deps.vms.create({ vnfInstanceId: instance.id, vduId: spec.vduId, index: spec.index, name });
    const vdu = vnfd.vdus.find((candidate) => candidate.vduId === spec.vduId);
    const version = vm.address.includes(':') ? 6 : 4;
    this.deps.cloud.addServer({
      id: vm.serverId,
      name,
      status: 'ACTIVE',
      networks: { [vm.network]: [{ addr: vm.address, version, type: 'fixed' }] },
      metadata: { ...(vdu?.metadata ?? {}), ...extraMetadata },
    });
    this.sequence += 1;
    return {
      resourceInfoId: spec.resourceInfoId ?? (instance.api === 'v1' ? randomUUID() : vm.serverId),
      vduId: spec.vduId,
      index: spec.index,
      serverId: vm.serverId,
      createdAt: this.deps.clock.now(),
      sequence: this.sequence,
    };
  }

  async removeVnfc(vnfc: SimVnfc): Promise<void> {
    await this.deps.vms.destroy(vnfc.serverId);
    this.deps.cloud.removeServer(vnfc.serverId);
  }

  async addVnfcs(context: AddContext, vduId: string, count: number): Promise<SimVnfc[]> {
    const added: SimVnfc[] = [];
    let index = nextIndex([...context.existing, ...added], vduId);
    for (let made = 0; made < count; made += 1) {
      added.push(await this.createVnfc(context.instance, context.vnfd, { vduId, index }, context.metadataFor(vduId)));
      index += 1;
    }
    return added;
  }

  /** Heat replaces a server marked unhealthy by creating the new one before deleting the old. */
  async replaceVnfc(context: AddContext, old: SimVnfc, keepResourceInfoId: boolean): Promise<SimVnfc> {
    const spec: NewVnfcSpec = { vduId: old.vduId, index: old.index, ...(keepResourceInfoId ? { resourceInfoId: old.resourceInfoId } : {}) };
    const replacement = await this.createVnfc(context.instance, context.vnfd, spec, context.metadataFor(old.vduId));
    await this.removeVnfc(old);
    return replacement;
  }
}

export interface AddContext {
  instance: SimVnfInstance;
  vnfd: SimVnfd;
  existing: SimVnfc[];
  metadataFor: (vduId: string) => Record<string, string>;
}

function nextIndex(vnfcs: SimVnfc[], vduId: string): number {
  const indexes = vnfcs.filter((vnfc) => vnfc.vduId === vduId).map((vnfc) => vnfc.index);
  return indexes.length === 0 ? 0 : Math.max(...indexes) + 1;
}

/**
 * Extra Nova metadata per VDU from `additionalParams.serverMetadata` ({vduId: {key: value}}): the
 * simulator's stand-in for a VNF package's lcm-operation-user-data script mapping parameters to metadata.
 */
export function serverMetadataFromParams(additionalParams: unknown): (vduId: string) => Record<string, string> {
  const perVdu = isRecord(additionalParams) && isRecord(additionalParams.serverMetadata) ? additionalParams.serverMetadata : {};
  return (vduId) => {
    const entries = perVdu[vduId];
    if (!isRecord(entries)) return {};
    return Object.fromEntries(Object.entries(entries).map(([key, value]) => [key, String(value)]));
  };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
