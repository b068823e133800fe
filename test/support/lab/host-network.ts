import { writeFile } from 'node:fs/promises';
import { LabError } from './lab-error.js';
import { runChecked, runCommand } from './run-command.js';

/** Fixed and disk-backed, so a later run finds a crashed run's directories whatever TMPDIR says. */
export const labTempRoot = '/var/tmp';

/**
 * Every host object a lab creates carries a fixed prefix and its slot number (several labs, e.g.
 * from parallel test processes, each hold one slot), so leftovers of a crashed run in a slot can be
 * found and removed by name without touching anything else on the machine, other slots included.
 */
export interface LabNames {
  slot: number;
  bridge: string;
  tempDirPrefix: string;
  netnsPattern: RegExp;
  linkPattern: RegExp;
  machinePattern: RegExp;
  netns(index: number): string;
  machine(index: number): string;
  hostVeth(index: number): string;
  /** The VM-side end is created under this name, moved into the namespace and renamed to eth0. */
  peerVeth(index: number): string;
}

export function labNamesFor(slot: number): LabNames {
  return {
    slot,
    bridge: `vmsibr${slot}`,
    tempDirPrefix: `vmsi-lab-${slot}-`,
    netnsPattern: new RegExp(`^vmsi-${slot}-\\d+$`),
    linkPattern: new RegExp(`^vmsi(br${slot}|v${slot}-\\d+|p${slot}-\\d+)$`),
    machinePattern: new RegExp(`^vmsi-${slot}-\\d+$`),
    netns: (index) => `vmsi-${slot}-${index}`,
    machine: (index) => `vmsi-${slot}-${index}`,
    hostVeth: (index) => `vmsiv${slot}-${index}`,
    peerVeth: (index) => `vmsip${slot}-${index}`,
  };
}

export function netnsPath(names: LabNames, index: number): string {
  return `/run/netns/${names.netns(index)}`;
}

/**
 * The bridge joins the VMs and the host (which serves packages on its address). It forwards
 * frames between its ports at once (no STP delay); the host never routes for it.
 */
export async function createBridge(names: LabNames, cidr: string): Promise<void> {
  const bridge = names.bridge;
  await runChecked('ip', ['link', 'add', bridge, 'type', 'bridge', 'forward_delay', '0']);
  await writeFile(`/proc/sys/net/ipv4/conf/${bridge}/forwarding`, '0');
  await writeFile(`/proc/sys/net/ipv6/conf/${bridge}/disable_ipv6`, '1');
  await runChecked('ip', ['addr', 'add', cidr, 'dev', bridge]);
  await runChecked('ip', ['link', 'set', bridge, 'up']);
}

export async function deleteBridge(names: LabNames): Promise<void> {
  await deleteLinkIfPresent(names.bridge);
}

/**
 * A network namespace for one VM: loopback, and eth0 with a static address on the bridge's subnet.
 * Deliberately no default route, so nothing a VM sends can leave the lab.
 */
export async function createVmNetwork(names: LabNames, index: number, cidr: string): Promise<string> {
  const netns = names.netns(index);
  const hostVeth = names.hostVeth(index);
  const peer = names.peerVeth(index);
  await runChecked('ip', ['netns', 'add', netns]);
  await runChecked('ip', ['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', peer]);
  await runChecked('ip', ['link', 'set', hostVeth, 'master', names.bridge, 'up']);
  await runChecked('ip', ['link', 'set', peer, 'netns', netns]);
  await runChecked('ip', ['-n', netns, 'link', 'set', peer, 'name', 'eth0']);
  await runChecked('ip', ['-n', netns, 'addr', 'add', cidr, 'dev', 'eth0']);
  await runChecked('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
  await runChecked('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  return netnsPath(names, index);
}

export async function deleteVmNetwork(names: LabNames, index: number): Promise<void> {
  await deleteLinkIfPresent(names.hostVeth(index));
  await deleteLinkIfPresent(names.peerVeth(index));
  const result = await runCommand('ip', ['netns', 'delete', names.netns(index)]);
  if (result.code !== 0 && !/No such file/.test(result.stderr)) {
    throw new LabError('The VM network namespace could not be deleted.', { netns: names.netns(index), stderr: result.stderr.trim() });
  }
}

async function deleteLinkIfPresent(name: string): Promise<void> {
  const shown = await runCommand('ip', ['link', 'show', 'dev', name]);
  if (shown.code === 0) await runChecked('ip', ['link', 'delete', 'dev', name]);
}
