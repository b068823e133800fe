import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { assertRangeUnused, formatIpv4, parseCidr } from './address-range.js';
import { ensureBaseRoot } from './base-root.js';
import { createBridge, deleteBridge, labNamesFor, labTempRoot, type LabNames } from './host-network.js';
import { LabError } from './lab-error.js';
import { holdSlot, slotCount, type SlotClaim } from './lab-slot.js';
import { findLeftovers, removeLeftovers } from './leftovers.js';
import { startPackageServer, type PackageServer } from './package-server.js';
import { runChecked } from './run-command.js';
import { bootTestVm, type TestVm } from './test-vm.js';
import type { CloudInitSeed } from './vm-root.js';

export type { TestVm } from './test-vm.js';
export type { CommandResult, RunOptions } from './run-command.js';
export type { CloudInitSeed } from './vm-root.js';
export type { PackageServer, ServedRequest } from './package-server.js';

export interface LabOptions {
  /** Where scripts/prepare-test-host.sh keeps the base root (default /var/cache/vmsi-test). */
  cacheDir?: string;
}

export interface StartVmOptions {
  /** Host name inside the VM; defaults to vm<n>. */
  name?: string;
  /** An address from reserveAddress(), for user-data that must know it before boot. */
  address?: string;
  /** sshd starts this much later than it would; startVm then returns before sshd listens. */
  sshStartDelaySeconds?: number;
  /** Boot with this NoCloud seed and cloud-init enabled; see TestVm.waitForCloudInit. */
  cloudInit?: CloudInitSeed;
  bootTimeoutMs?: number;
}

export interface Lab {
  /** The host's address on the lab bridge, where the package server listens. */
  readonly bridgeAddress: string;
  /** This lab's part of 198.51.100.0/24 (a /26: several labs can run at once). */
  readonly subnet: string;
  /** The key the VMs' root and vmadmin accept. */
  readonly clientKey: { privateKeyPath: string; publicKey: string };
  /** The package server's base URL, on the bridge address. */
  readonly httpBaseUrl: string;
  readonly packages: PackageServer;
  /** A directory inside the lab's temporary tree, removed by close(). */
  readonly workDir: string;
  publishFile(localPath: string, name?: string): string;
  /** The address the next VM would get, held for a startVm({ address }) call. */
  reserveAddress(): string;
  startVm(options?: StartVmOptions): Promise<TestVm>;
  /** What of this lab is still on the host, by name; empty after close(). */
  leftovers(): string[];
  close(): Promise<void>;
}

/** The lab's whole range: never routed here. Never 192.0.2.0/24: that is this sandbox's uplink. */
export const labRange = '198.51.100.0/24';
const slotPrefixLength = 26;
const slotSize = 2 ** (32 - slotPrefixLength);
// Addresses .1 (bridge) to .9 of each slot stay free for services a test may add on the host.
const firstVmHost = 10;
const maxVms = slotSize - firstVmHost - 1;
const vmName = /^[a-z][a-z0-9-]{0,30}$/;

function slotNetwork(slot: number): number {
  return parseCidr(labRange).network + slot * slotSize;
}

async function createClientKey(labDir: string): Promise<{ privateKeyPath: string; publicKey: string }> {
  const privateKeyPath = join(labDir, 'client_ed25519');
  await runChecked('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'vmsi-lab-client', '-f', privateKeyPath]);
  return { privateKeyPath, publicKey: (await readFile(`${privateKeyPath}.pub`, 'utf8')).trim() };
}

interface LabParts {
  claim: SlotClaim;
  names: LabNames;
  baseDir: string;
  labDir: string;
  clientKey: { privateKeyPath: string; publicKey: string };
  packages: PackageServer;
}

class NspawnLab implements Lab {
  readonly bridgeAddress: string;
  readonly subnet: string;
  readonly clientKey: { privateKeyPath: string; publicKey: string };
  readonly httpBaseUrl: string;
  readonly packages: PackageServer;
  readonly workDir: string;
  private readonly network: number;
  private readonly vms = new Set<TestVm>();
  private readonly reserved = new Map<string, number>();
  private nextIndex = 1;
  private closing: Promise<void> | undefined;
  private readonly exitHook = (): void => removeLeftovers(this.parts.names);

  constructor(private readonly parts: LabParts) {
    this.network = slotNetwork(parts.names.slot);
    this.subnet = `${formatIpv4(this.network)}/${slotPrefixLength}`;
    this.bridgeAddress = formatIpv4(this.network + 1);
    this.clientKey = parts.clientKey;
    this.packages = parts.packages;
    this.httpBaseUrl = parts.packages.baseUrl;
    this.workDir = join(parts.labDir, 'work');
    // A run that ends without close() (a failed hook, process.exit) still leaves nothing behind.
    process.on('exit', this.exitHook);
  }

  publishFile(localPath: string, name?: string): string {
    return this.packages.publishFile(localPath, name);
  }

  private allocateIndex(): number {
    if (this.closing !== undefined) throw new LabError('The lab is closed.');
    if (this.nextIndex > maxVms) throw new LabError('The lab has no addresses left.', { maxVms });
    return this.nextIndex++;
  }

  private addressOf(index: number): string {
    return formatIpv4(this.network + firstVmHost + index - 1);
  }

  reserveAddress(): string {
    const index = this.allocateIndex();
    const address = this.addressOf(index);
    this.reserved.set(address, index);
    return address;
  }

  private takeIndex(address: string | undefined): number {
    if (address === undefined) return this.allocateIndex();
    const index = this.reserved.get(address);
    if (index === undefined) throw new LabError('The address was not reserved from this lab.', { address });
    this.reserved.delete(address);
    return index;
  }

  async startVm(options: StartVmOptions = {}): Promise<TestVm> {
    const { address, name: requestedName, ...vmOptions } = options;
    const index = this.takeIndex(address);
    const name = requestedName ?? `vm${index}`;
    if (!vmName.test(name)) throw new LabError('The VM name is not a valid host name.', { name });
    const vm = await bootTestVm({
      ...vmOptions,
      index,
      name,
      names: this.parts.names,
      address: this.addressOf(index),
      prefixLength: slotPrefixLength,
      baseDir: this.parts.baseDir,
      labDir: this.parts.labDir,
      authorizedKey: this.clientKey.publicKey,
    });
    this.vms.add(vm);
    return vm;
  }

  leftovers(): string[] {
    return findLeftovers(this.parts.names);
  }

  close(): Promise<void> {
    this.closing ??= this.teardown();
    return this.closing;
  }

  private async teardown(): Promise<void> {
    await Promise.all([...this.vms].map((vm) => vm.stop()));
    await this.packages.close();
    await deleteBridge(this.parts.names);
    await rm(this.parts.labDir, { recursive: true, force: true });
    process.off('exit', this.exitHook);
    await this.parts.claim.release();
  }
}

/**
 * Claims the first free slot. Every free slot is swept on the way: nobody holds it, so whatever
 * exists under its names was left by a crashed run, whichever slot that run had.
 */
async function claimSlotAndSweep(): Promise<SlotClaim> {
  let claim: SlotClaim | undefined;
  for (let slot = 0; slot < slotCount; slot++) {
    const held = await holdSlot(slot);
    if (held === undefined) continue;
    removeLeftovers(labNamesFor(slot));
    if (claim === undefined) claim = held;
    else await held.release();
  }
  if (claim === undefined) throw new LabError('Every lab slot on this host is in use.', { slotCount });
  return claim;
}

async function assembleLab(claim: SlotClaim, names: LabNames, labDir: string, cacheDir: string | undefined): Promise<Lab> {
  const baseDir = await ensureBaseRoot(cacheDir);
  const clientKey = await createClientKey(labDir);
  await mkdir(join(labDir, 'work'));
  const network = slotNetwork(names.slot);
  const bridgeAddress = formatIpv4(network + 1);
  await createBridge(names, `${bridgeAddress}/${slotPrefixLength}`);
  const packages = await startPackageServer(bridgeAddress, join(labDir, 'srv'));
  return new NspawnLab({ claim, names, baseDir, labDir, clientKey, packages });
}

/**
 * Starts a lab: claims a free slot, removes what crashed runs left in free slots (by those slots'
 * names only), checks the slot's addresses are unused on the host, then creates the bridge, the
 * package server and the client key. Needs root. close() removes everything the lab and its VMs
 * created.
 */
export async function startLab(options: LabOptions = {}): Promise<Lab> {
  if (process.getuid?.() !== 0) throw new LabError('The lab needs root.');
  const claim = await claimSlotAndSweep();
  const names = labNamesFor(claim.slot);
  let labDir: string | undefined;
  try {
    await assertRangeUnused(`${formatIpv4(slotNetwork(claim.slot))}/${slotPrefixLength}`);
    labDir = await mkdtemp(join(labTempRoot, names.tempDirPrefix));
    return await assembleLab(claim, names, labDir, options.cacheDir);
  } catch (error) {
    await deleteBridge(names).catch(() => undefined);
    if (labDir !== undefined) await rm(labDir, { recursive: true, force: true });
    await claim.release();
    throw error;
  }
}
