import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, open, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createVmNetwork, deleteVmNetwork, netnsPath, type LabNames } from './host-network.js';
import { LabError } from './lab-error.js';
import { runCommand, type CommandResult, type RunOptions } from './run-command.js';
import { mountVmRoot, personalizeVmRoot, unmountVmRoot, type CloudInitSeed } from './vm-root.js';
import { hasSshBanner, pollUntil } from './wait-for.js';

export interface TestVm {
  readonly name: string;
  readonly address: string;
  /**
   * The VM's root as the host sees it (the merged overlay), for assertions on files. Mounts made
   * inside the VM (/tmp, /run and /dev are its own) are not visible here, and a host-side write
   * follows symlinks with the host's root, so write through run() unless the path is known.
   */
  readonly rootDir: string;
  /** The VM's own SSH host key, "ssh-ed25519 AAAA…", as generated at its first boot. */
  hostPublicKey(): Promise<string>;
  /** Runs a program inside the VM as root (entering its namespaces; works without sshd). */
  run(command: readonly string[], options?: RunOptions): Promise<CommandResult>;
  waitForSsh(timeoutMs?: number): Promise<void>;
  /** `cloud-init status --wait --long` inside the VM; exit code 0 means all stages succeeded. */
  waitForCloudInit(timeoutMs?: number): Promise<CommandResult>;
  stopSshd(): Promise<void>;
  startSshd(): Promise<void>;
  /**
   * Power-cycles the VM on the same disk and network, as a reboot would: its processes and SSH
   * sessions end, its files stay (the host key too). Resolves once sshd answers again.
   */
  restart(): Promise<void>;
  /** Proportional set size of all the VM's processes: its real share of host memory. */
  memoryPssBytes(): Promise<number>;
  consoleLog(): Promise<string>;
  /** Powers the VM off (SIGTERM to nspawn) and removes its overlay, namespace and links. */
  stop(): Promise<void>;
}

export interface VmBootSpec {
  names: LabNames;
  index: number;
  name: string;
  address: string;
  prefixLength: number;
  baseDir: string;
  labDir: string;
  authorizedKey: string;
  sshStartDelaySeconds?: number;
  cloudInit?: CloudInitSeed;
  bootTimeoutMs?: number;
}

const vmPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const defaultBootTimeoutMs = 60_000;
const defaultSshTimeoutMs = 60_000;
const defaultCloudInitTimeoutMs = 180_000;
const poweroffTimeoutMs = 20_000;
const managerStates = new Set(['initializing', 'starting', 'running', 'degraded']);

function nspawnArgs(spec: VmBootSpec, root: string, netnsPath: string): string[] {
  return [
    '--quiet',
    // No machined registration and no scope unit: neither exists on hosts without systemd as PID 1.
    '--register=no',
    '--keep-unit',
    '--boot',
    `--directory=${root}`,
    `--machine=${spec.names.machine(spec.index)}`,
    `--network-namespace-path=${netnsPath}`,
    // nspawn drops it by default; the install's preflight and istio-start need iptables in the VM.
    '--capability=CAP_NET_ADMIN',
    '--console=read-only',
    '--resolv-conf=off',
    '--timezone=off',
    '--link-journal=no',
  ];
}

/** Whether `promise` settles within `ms`; the timer is cleared either way so it never holds the process. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

class NspawnVm implements TestVm {
  readonly name: string;
  readonly address: string;
  readonly rootDir: string;
  private readonly vmDir: string;
  private child: ChildProcess | undefined;
  private exited: Promise<unknown> = Promise.resolve();
  private leaderPid = 0;
  private stopping: Promise<void> | undefined;

  constructor(private readonly spec: VmBootSpec) {
    this.name = spec.name;
    this.address = spec.address;
    this.vmDir = join(spec.labDir, `vm-${spec.index}`);
    this.rootDir = join(this.vmDir, 'root');
  }

  private get consolePath(): string {
    return join(this.vmDir, 'console.log');
  }

  async boot(): Promise<void> {
    await mkdir(this.vmDir, { recursive: true });
    await mountVmRoot(this.spec.baseDir, this.vmDir);
    await personalizeVmRoot(this.rootDir, {
      hostname: this.name,
      authorizedKey: this.spec.authorizedKey,
      sshStartDelaySeconds: this.spec.sshStartDelaySeconds,
      cloudInit: this.spec.cloudInit,
    });
    await createVmNetwork(this.spec.names, this.spec.index, `${this.address}/${this.spec.prefixLength}`);
    await this.powerOn();
  }

  async restart(): Promise<void> {
    if (this.stopping !== undefined) throw new LabError('The VM is being stopped.', { vm: this.name });
    await this.powerOff();
    this.leaderPid = 0;
    await this.powerOn();
  }

  private async powerOn(): Promise<void> {
    await this.spawnNspawn(netnsPath(this.spec.names, this.spec.index));
    const timeoutMs = this.spec.bootTimeoutMs ?? defaultBootTimeoutMs;
    this.leaderPid = await pollUntil(() => this.findLeader(), { timeoutMs, what: `init of ${this.name}` });
    // With a delayed sshd the VM counts as up once systemd runs, so tests can race the delay.
    if (this.spec.sshStartDelaySeconds === undefined) await this.waitForSsh(timeoutMs);
    else await pollUntil(() => this.managerState(), { timeoutMs, what: `systemd in ${this.name}` });
  }

  private async spawnNspawn(netnsPath: string): Promise<void> {
    // Appended: after a restart the console still shows the boot before it.
    const consoleFile = await open(this.consolePath, 'a');
    try {
      const stdio = ['ignore', consoleFile.fd, consoleFile.fd] as const;
      const child = spawn('systemd-nspawn', nspawnArgs(this.spec, this.rootDir, netnsPath), { stdio: [...stdio] });
      this.exited = once(child, 'exit').catch(() => undefined);
      this.child = child;
    } finally {
      await consoleFile.close();
    }
  }

  private isRunning(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  private async assertRunning(): Promise<void> {
    if (this.isRunning()) return;
    const tail = (await this.consoleLog()).split('\n').slice(-15).join('\n');
    throw new LabError('The VM is not running.', { vm: this.name, console: tail });
  }

  /**
   * The VM's init: the child of nspawn that lives in a new PID namespace and has become systemd.
   * nspawn's first child only sets up namespaces and exits, so it must not be taken for the VM.
   */
  private async findLeader(): Promise<number | undefined> {
    await this.assertRunning();
    const pid = this.child?.pid ?? 0;
    const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')).trim().split(' ');
    const hostPidNamespace = await readlink('/proc/self/ns/pid');
    for (const child of children.filter(Boolean)) {
      const namespace = await readlink(`/proc/${child}/ns/pid`).catch(() => hostPidNamespace);
      const command = (await readFile(`/proc/${child}/comm`, 'utf8').catch(() => '')).trim();
      if (namespace !== hostPidNamespace && command === 'systemd') return Number(child);
    }
    return undefined;
  }

  private async managerState(): Promise<string | undefined> {
    await this.assertRunning();
    const result = await this.run(['systemctl', 'is-system-running'], { timeoutMs: 5_000 });
    const state = result.stdout.trim();
    return managerStates.has(state) ? state : undefined;
  }

  async run(command: readonly string[], options?: RunOptions): Promise<CommandResult> {
    if (this.leaderPid === 0) throw new LabError('The VM has not booted.', { vm: this.name });
    const enter = ['--target', String(this.leaderPid), '--mount', '--uts', '--ipc', '--net', '--pid', '--root', '--wd'];
    // A clean environment, as a login would have; the host's PATH and variables stay outside.
    const environment = ['/usr/bin/env', '-i', `PATH=${vmPath}`, 'HOME=/root', 'LANG=C.UTF-8', 'USER=root'];
    return runCommand('nsenter', [...enter, '--', ...environment, ...command], options);
  }

  async waitForSsh(timeoutMs: number = defaultSshTimeoutMs): Promise<void> {
    await pollUntil(
      async () => {
        await this.assertRunning();
        return (await hasSshBanner(this.address, 22, 1_000)) ? true : undefined;
      },
      { timeoutMs, what: `sshd of ${this.name}` },
    );
  }

  async waitForCloudInit(timeoutMs: number = defaultCloudInitTimeoutMs): Promise<CommandResult> {
    return this.run(['cloud-init', 'status', '--wait', '--long'], { timeoutMs });
  }

  async hostPublicKey(): Promise<string> {
    const text = await readFile(join(this.rootDir, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8');
    const [type, key] = text.trim().split(/\s+/);
    if (type !== 'ssh-ed25519' || key === undefined) throw new LabError('The VM has no ed25519 host key.', { vm: this.name });
    return `${type} ${key}`;
  }

  async stopSshd(): Promise<void> {
    await this.systemctl('stop', 'ssh.service');
  }

  async startSshd(): Promise<void> {
    await this.systemctl('start', 'ssh.service');
    await this.waitForSsh();
  }

  private async systemctl(verb: string, unit: string): Promise<void> {
    const result = await this.run(['systemctl', verb, unit]);
    if (result.code !== 0) throw new LabError('systemctl failed in the VM.', { vm: this.name, verb, unit, stderr: result.stderr });
  }

  async memoryPssBytes(): Promise<number> {
    const namespace = await readlink(`/proc/${this.leaderPid}/ns/pid`);
    let totalKb = 0;
    for (const pid of (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry))) {
      if ((await readlink(`/proc/${pid}/ns/pid`).catch(() => '')) !== namespace) continue;
      const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
      totalKb += Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0);
    }
    return totalKb * 1024;
  }

  consoleLog(): Promise<string> {
    return readFile(this.consolePath, 'utf8').catch(() => '');
  }

  stop(): Promise<void> {
    this.stopping ??= this.teardown();
    return this.stopping;
  }

  private async teardown(): Promise<void> {
    await this.powerOff();
    await unmountVmRoot(this.rootDir);
    await deleteVmNetwork(this.spec.names, this.spec.index);
    await rm(this.vmDir, { recursive: true, force: true });
  }

  /** SIGTERM makes nspawn shut the VM down cleanly; SIGKILL on the VM's init is the fallback. */
  private async powerOff(): Promise<void> {
    if (!this.isRunning()) return;
    this.child?.kill('SIGTERM');
    if (await settlesWithin(this.exited, poweroffTimeoutMs)) return;
    if (this.leaderPid > 0) process.kill(this.leaderPid, 'SIGKILL');
    this.child?.kill('SIGKILL');
    await this.exited;
  }
}

/** Boots one VM; on any failure everything it had created is removed before the error surfaces. */
export async function bootTestVm(spec: VmBootSpec): Promise<TestVm> {
  const vm = new NspawnVm(spec);
  try {
    await vm.boot();
    return vm;
  } catch (error) {
    await vm.stop().catch(() => undefined);
    throw error;
  }
}
