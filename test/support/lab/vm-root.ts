import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from './lab-error.js';
import { runChecked } from './run-command.js';

export interface CloudInitSeed {
  userData: string;
  /** Defaults to an instance-id and local-hostname derived from the VM's name. */
  metaData?: string;
}

export interface VmRootSpec {
  hostname: string;
  authorizedKey: string;
  sshStartDelaySeconds?: number;
  cloudInit?: CloudInitSeed;
}

/** Label of the lab's overlay mounts, so `mount` shows whose they are. */
const mountSource = 'vmsi-lab';

/**
 * A writable copy of the base root for one VM: an overlay whose upper layer holds everything the VM
 * changes, so the cached base is shared by all VMs and never modified.
 */
export async function mountVmRoot(baseDir: string, vmDir: string): Promise<string> {
  const [upper, work, merged] = ['upper', 'work', 'root'].map((name) => join(vmDir, name)) as [string, string, string];
  await Promise.all([upper, work, merged].map((dir) => mkdir(dir, { recursive: true })));
  const options = `lowerdir=${baseDir},upperdir=${upper},workdir=${work}`;
  await runChecked('mount', ['-t', 'overlay', mountSource, '-o', options, merged]);
  return merged;
}

export async function unmountVmRoot(root: string): Promise<void> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  if (mounts.split('\n').some((line) => line.split(' ')[4] === root)) await runChecked('umount', [root]);
}

async function userIds(root: string, user: string): Promise<{ uid: number; gid: number }> {
  const line = (await readFile(join(root, 'etc/passwd'), 'utf8')).split('\n').find((entry) => entry.startsWith(`${user}:`));
  const fields = line?.split(':') ?? [];
  if (fields.length < 4) throw new LabError('The base root lacks a user the lab needs.', { user });
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

async function authorizeKey(root: string, user: string, home: string, key: string): Promise<void> {
  const { uid, gid } = await userIds(root, user);
  const sshDir = join(root, home, '.ssh');
  const file = join(sshDir, 'authorized_keys');
  await mkdir(sshDir, { recursive: true, mode: 0o700 });
  await writeFile(file, `${key.trim()}\n`, { mode: 0o600 });
  await chown(sshDir, uid, gid);
  await chown(file, uid, gid);
}

async function writeIdentity(root: string, hostname: string): Promise<void> {
  await writeFile(join(root, 'etc/hostname'), `${hostname}\n`);
  // sudo warns on every call when the host name does not resolve; cloud images map it like this.
  await writeFile(join(root, 'etc/hosts'), `127.0.0.1\tlocalhost\n127.0.1.1\t${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`);
  await writeFile(join(root, 'etc/machine-id'), `${randomBytes(16).toString('hex')}\n`);
}

/** Makes sshd start late, for tests of the product's connection retries. */
async function delaySshd(root: string, seconds: number): Promise<void> {
  const dropInDir = join(root, 'etc/systemd/system/ssh.service.d');
  await mkdir(dropInDir, { recursive: true });
  await writeFile(join(dropInDir, '50-vmsi-lab-delay.conf'), `[Service]\nExecStartPre=/bin/sleep ${seconds}\nTimeoutStartSec=${seconds + 90}\n`);
}

/**
 * On a loaded host, systemd in the container now and then fails to set up a unit's cgroup (exit
 * 219/CGROUP). For systemd-user-sessions that leaves /run/nologin in place, refusing every login but
 * root's for the VM's whole life, which no cloud VM does: the unit is tried again instead.
 */
async function retryUserSessions(root: string): Promise<void> {
  const dropInDir = join(root, 'etc/systemd/system/systemd-user-sessions.service.d');
  await mkdir(dropInDir, { recursive: true });
  await writeFile(join(dropInDir, '50-vmsi-lab-retry.conf'), '[Unit]\nStartLimitIntervalSec=0\n\n[Service]\nRestart=on-failure\nRestartSec=1s\n');
}

/** A NoCloud seed, and cloud-init switched on for this VM only (the base ships it disabled). */
async function seedCloudInit(root: string, hostname: string, seed: CloudInitSeed): Promise<void> {
  const seedDir = join(root, 'var/lib/cloud/seed/nocloud');
  await mkdir(seedDir, { recursive: true, mode: 0o700 });
  const metaData = seed.metaData ?? `instance-id: ${hostname}\nlocal-hostname: ${hostname}\n`;
  await writeFile(join(seedDir, 'user-data'), seed.userData, { mode: 0o600 });
  await writeFile(join(seedDir, 'meta-data'), metaData, { mode: 0o600 });
  await chmod(seedDir, 0o700);
  await rm(join(root, 'etc/cloud/cloud-init.disabled'), { force: true });
}

export async function personalizeVmRoot(root: string, spec: VmRootSpec): Promise<void> {
  await writeIdentity(root, spec.hostname);
  await authorizeKey(root, 'root', 'root', spec.authorizedKey);
  await authorizeKey(root, 'vmadmin', 'home/vmadmin', spec.authorizedKey);
  await retryUserSessions(root);
  if (spec.sshStartDelaySeconds !== undefined) await delaySshd(root, spec.sshStartDelaySeconds);
  if (spec.cloudInit !== undefined) await seedCloudInit(root, spec.hostname, spec.cloudInit);
}
