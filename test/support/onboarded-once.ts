import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { TestVm } from './lab/lab.js';
import type { CallbackAttempt, TackerSimulator } from './tacker-sim/tacker-simulator.js';

export interface OnboardedOnceFacts {
  /** Notifications Tacker got a 204 for. */
  accepted: CallbackAttempt[];
  jobs: ReadonlyArray<{ kind: string; subject: string; key: string | null }>;
  tacker: TackerSimulator;
  vnfInstanceIds: readonly string[];
  vmsByServer: ReadonlyMap<string, TestVm>;
  /** The file registry's folder of the VMs' namespace. */
  registryDir: string;
  vmCount: number;
}

async function sidecarInstalls(vm: TestVm): Promise<number> {
  const log = (await vm.run(['cat', '/var/log/dpkg.log'])).stdout;
  return log.split('\n').filter((line) => / install istio-sidecar[: ]/.test(line)).length;
}

/**
 * What a fault test ends with: each accepted COMPLETED notification made exactly one lcm-event
 * job, each VM exactly one inject job, one WorkloadEntry and one install of the sidecar package,
 * and its agent runs.
 */
export async function expectEachVmOnboardedOnce(facts: OnboardedOnceFacts): Promise<void> {
  const opOccKeys = facts.accepted
    .filter((delivery) => delivery.body?.notificationType === 'VnfLcmOperationOccurrenceNotification' && delivery.body.operationState === 'COMPLETED')
    .map((delivery) => `${String(delivery.body?.vnfLcmOpOccId)}:COMPLETED`);
  expect(opOccKeys).to.have.length(facts.vmCount);
  const lcmEvents = facts.jobs.filter((job) => job.kind === 'lcm-event');
  expect(lcmEvents.map((job) => job.key).sort(), 'each accepted notification the plugin acts on made exactly one job, the others none').to.deep.equal([...opOccKeys].sort());

  const servers = facts.vnfInstanceIds.flatMap((vnf) => facts.tacker.vnfInstances().find((instance) => instance.id === vnf)?.vnfcs.map((vnfc) => vnfc.serverId) ?? []);
  expect(new Set(servers).size).to.equal(facts.vmCount);
  const injects = facts.jobs.filter((job) => job.kind === 'inject');
  expect(injects.map((job) => job.subject).sort(), 'one inject job per VM').to.deep.equal([...servers].sort());

  const entries = readdirSync(facts.registryDir).filter((name) => name.startsWith('workloadentry-'));
  const addresses = entries.map((name) => (parseYaml(readFileSync(path.join(facts.registryDir, name), 'utf8')) as { spec: { address: string } }).spec.address);
  expect(addresses.sort(), 'one WorkloadEntry per VM').to.deep.equal(servers.map((serverId) => facts.vmsByServer.get(serverId)?.address).sort());
  const vms = servers.map((serverId) => {
    const vm = facts.vmsByServer.get(serverId);
    if (vm === undefined) throw new Error(`no lab VM for server ${serverId}`);
    return vm;
  });
  expect(await Promise.all(vms.map(sidecarInstalls)), 'the sidecar package installed once on each VM').to.deep.equal(vms.map(() => 1));
  for (const [index, vm] of vms.entries()) expect((await vm.run(['systemctl', 'is-active', 'istio'])).stdout.trim(), servers[index]).to.equal('active');
}
