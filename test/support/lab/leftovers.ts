import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { labTempRoot, type LabNames } from './host-network.js';

/*
 * Removal of what a crashed or killed test run left behind in one lab slot, found only by that
 * slot's names. Call it only while holding the slot. Synchronous on purpose: it also runs from a
 * process 'exit' hook, where nothing asynchronous can.
 */

const waitCell = new Int32Array(new SharedArrayBuffer(4));

function sleepSync(ms: number): void {
  Atomics.wait(waitCell, 0, 0, ms);
}

function tryExec(file: string, args: string[]): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

function execSucceeds(file: string, args: string[]): boolean {
  try {
    execFileSync(file, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function netnsNames(names: LabNames): string[] {
  return tryExec('ip', ['netns', 'list'])
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => names.netnsPattern.test(name));
}

function readArgv(pid: string): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** systemd-nspawn processes of the slot: the --machine= they were given carries the slot's prefix. */
function nspawnPids(names: LabNames): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      const argv = readArgv(pid);
      const machine = argv.find((arg) => arg.startsWith('--machine='))?.slice('--machine='.length) ?? '';
      return argv[0]?.endsWith('systemd-nspawn') === true && names.machinePattern.test(machine);
    })
    .map(Number);
}

/** Kills every process inside the slot's namespaces (a VM's init takes the rest with it), then nspawn. */
function killProcesses(names: LabNames, namespaces: string[]): void {
  for (const netns of namespaces) {
    const pids = tryExec('ip', ['netns', 'pids', netns]).split('\n').filter(Boolean).map(Number);
    pids.forEach((pid) => killQuietly(pid, 'SIGKILL'));
  }
  const nspawns = nspawnPids(names);
  const deadline = Date.now() + 5_000;
  while (nspawns.some(isAlive) && Date.now() < deadline) sleepSync(50);
  nspawns.filter(isAlive).forEach((pid) => killQuietly(pid, 'SIGKILL'));
}

function mountPoints(names: LabNames): string[] {
  const prefix = join(labTempRoot, names.tempDirPrefix);
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint.startsWith(prefix))
    .reverse(); // innermost first
}

function tempDirs(names: LabNames): string[] {
  return readdirSync(labTempRoot)
    .filter((entry) => entry.startsWith(names.tempDirPrefix))
    .map((entry) => join(labTempRoot, entry));
}

function removeTempDirs(names: LabNames): void {
  for (const mountPoint of mountPoints(names)) {
    if (!execSucceeds('umount', [mountPoint])) execSucceeds('umount', ['--lazy', mountPoint]);
  }
  // Never recurse into a directory that still has something mounted below it.
  const stillMounted = mountPoints(names);
  for (const dir of tempDirs(names)) {
    if (!stillMounted.some((mountPoint) => mountPoint.startsWith(`${dir}/`))) rmSync(dir, { recursive: true, force: true });
  }
}

function linkNames(names: LabNames): string[] {
  return tryExec('ip', ['-o', 'link', 'show'])
    .split('\n')
    .map((line) => (line.split(': ')[1] ?? '').split('@')[0] ?? '')
    .filter((name) => names.linkPattern.test(name));
}

/** nspawn keeps a per-machine directory under /run that a killed nspawn cannot remove. */
function removeNspawnRunDirs(names: LabNames): void {
  const propagate = '/run/systemd/nspawn/propagate';
  if (!existsSync(propagate)) return;
  for (const name of readdirSync(propagate).filter((entry) => names.machinePattern.test(entry))) {
    rmSync(join(propagate, name), { recursive: true, force: true });
  }
}

export function removeLeftovers(names: LabNames): void {
  const namespaces = netnsNames(names);
  killProcesses(names, namespaces);
  removeTempDirs(names);
  namespaces.forEach((netns) => execSucceeds('ip', ['netns', 'delete', netns]));
  linkNames(names).forEach((name) => execSucceeds('ip', ['link', 'delete', 'dev', name]));
  removeNspawnRunDirs(names);
}

/** What of a lab slot still exists on the host, by name: empty after a clean close(). */
export function findLeftovers(names: LabNames): string[] {
  return [
    ...netnsNames(names).map((name) => `netns ${name}`),
    ...linkNames(names).map((name) => `link ${name}`),
    ...mountPoints(names).map((mountPoint) => `mount ${mountPoint}`),
    ...nspawnPids(names).map((pid) => `process ${pid} (systemd-nspawn)`),
    ...tempDirs(names).map((dir) => `directory ${dir}`),
  ];
}
