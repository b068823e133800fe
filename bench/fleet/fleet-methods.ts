import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JobView } from '../../src/injection/job-view.js';
import { runChecked } from '../../test/support/lab/run-command.js';
import type { ServiceProcess } from '../../test/support/service-process.js';
import type { WebhookReceiver } from '../../test/support/webhook-receiver.js';
import { runController } from './controller-run.js';
import type { FleetVm } from './fleet-lab.js';
import { peakRssBytes, resetPeakRss, treeCpuMs } from './process-tree-meter.js';

export type MethodName = 'product' | 'ansible' | 'floor';

export interface MethodRun {
  method: MethodName;
  vms: number;
  wallMs: number;
  cpuMs: number;
  peakRssBytes: number;
  /** The product only: each step's duration in each job. */
  stepDurationsMs?: Record<string, number[]>;
}

export interface FleetContext {
  service: ServiceProcess;
  receiver: WebhookReceiver;
  workDir: string;
  privateKeyPath: string;
  knownHostsPath: string;
  packageUrl: string;
  packageSha256: string;
  gatewayIp: string;
}

const here = path.dirname(fileURLToPath(import.meta.url));
// Generous: a run that hangs must end, and the whole benchmark must stay well under 15 minutes.
const RUN_TIMEOUT_MS = 240_000;
const JOB_POLL_MS = 200;

export function injectionSpec(context: FleetContext, vm: FleetVm): Record<string, unknown> {
  return {
    vm: { name: vm.name, address: vm.address, ssh: { user: 'vmadmin', privateKeyRef: { secret: 'lab-key' }, hostKey: { policy: 'pinned', publicKeys: [vm.hostPublicKey] } } },
    mesh: { namespace: 'vm-ns', workloadGroup: 'vm-app', serviceAccount: 'vm-sa', gateway: { ip: context.gatewayIp } },
    package: { source: 'mirror', url: context.packageUrl, sha256: context.packageSha256 },
  };
}

interface RenderedFile {
  name: string;
  mode: string;
  encoding: 'utf8' | 'base64';
  content: string;
}

/**
 * The bundle the product renders for each VM (its own render endpoint), written out as a folder
 * for Ansible's copy and as a tar for the floor. Same files, same modes, same install script.
 */
export async function writeRenderedBundles(context: FleetContext, fleet: readonly FleetVm[]): Promise<void> {
  for (const vm of fleet) {
    const { status, body } = await context.service.request<{ files: RenderedFile[] }>('POST', '/v1/render?includeSecrets=true', injectionSpec(context, vm));
    if (status !== 200) throw new Error(`rendering the bundle of ${vm.name} answered ${status}: ${JSON.stringify(body)}`);
    if (!body.files.some((file) => file.name === 'install-sidecar.sh')) throw new Error('the rendered bundle has no install script');
    const dir = bundleDir(context, vm);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (const file of body.files) await writeFile(path.join(dir, file.name), Buffer.from(file.content, file.encoding), { mode: Number.parseInt(file.mode, 8) });
    await runChecked('tar', ['-C', dir, '-cf', `${dir}.tar`, '.']);
  }
}

function bundleDir(context: FleetContext, vm: FleetVm): string {
  return path.join(context.workDir, 'bundles', vm.name);
}

async function submitAll(context: FleetContext, fleet: readonly FleetVm[]): Promise<string[]> {
  const submitted = await Promise.all(fleet.map((vm) => context.service.request<JobView>('POST', '/v1/injections', injectionSpec(context, vm))));
  return submitted.map(({ status, body }) => {
    if (status !== 202) throw new Error(`POST /v1/injections answered ${status}: ${JSON.stringify(body)}`);
    return body.id;
  });
}

/**
 * Until every job succeeded. The webhook tells when a job is done, so the service is not polled
 * (polling would be counted as its CPU); each job is then read once to confirm its final state.
 */
async function awaitSucceeded(context: FleetContext, jobIds: readonly string[]): Promise<JobView[]> {
  const ids = new Set(jobIds);
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  await context.receiver.waitFor((events) => events.filter((event) => ids.has(event.data.jobId)).length === ids.size, RUN_TIMEOUT_MS);
  const jobs: JobView[] = [];
  for (const id of jobIds) {
    for (;;) {
      const { body: job } = await context.service.request<JobView>('GET', `/v1/injections/${id}`);
      if (job.state === 'succeeded') {
        jobs.push(job);
        break;
      }
      if (job.state === 'failed' || job.state === 'failed_temp' || Date.now() > deadline) throw new Error(`injection ${id} ended ${job.state}: ${JSON.stringify(job.lastError)}`);
      await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
    }
  }
  return jobs;
}

export async function runProduct(context: FleetContext, fleet: readonly FleetVm[]): Promise<MethodRun> {
  const pid = context.service.pid;
  if (pid === undefined) throw new Error('the service is not running');
  resetPeakRss(pid);
  const cpuBefore = treeCpuMs(pid);
  const started = performance.now();
  const jobs = await awaitSucceeded(context, await submitAll(context, fleet));
  const wallMs = performance.now() - started;
  const cpuMs = treeCpuMs(pid) - cpuBefore;
  const stepDurationsMs: Record<string, number[]> = {};
  for (const step of jobs.flatMap((job) => job.steps)) (stepDurationsMs[step.name] ??= []).push(step.durationMs);
  return { method: 'product', vms: fleet.length, wallMs, cpuMs, peakRssBytes: peakRssBytes(pid), stepDurationsMs };
}

export async function runFloor(context: FleetContext, fleet: readonly FleetVm[]): Promise<MethodRun> {
  const plan = path.join(context.workDir, `floor-${fleet.length}.plan`);
  await writeFile(plan, fleet.map((vm) => `${vm.address} ${bundleDir(context, vm)}.tar\n`).join(''));
  const run = await runController([path.join(here, 'floor.sh'), plan, context.knownHostsPath, context.privateKeyPath], { timesFile: path.join(context.workDir, 'floor.times'), timeoutMs: RUN_TIMEOUT_MS });
  if (run.exitCode !== 0) throw new Error(`the floor failed (${run.exitCode}): ${run.output.slice(-2000)}`);
  return { method: 'floor', vms: fleet.length, wallMs: run.wallMs, cpuMs: run.cpuMs, peakRssBytes: run.peakRssBytes };
}

/**
 * Ansible as operators run it: its defaults (persistent SSH masters, no pipelining) except ssh
 * compression, which only costs CPU on a local bridge; forks = N; host keys pinned.
 */
async function writeAnsibleFiles(context: FleetContext, fleet: readonly FleetVm[]): Promise<{ config: string; inventory: string; controlDir: string }> {
  const dir = path.join(context.workDir, `ansible-${fleet.length}`);
  const controlDir = path.join(dir, 'cp');
  await mkdir(controlDir, { recursive: true, mode: 0o700 });
  const inventory = path.join(dir, 'inventory.ini');
  await writeFile(inventory, `[fleet]\n${fleet.map((vm) => `${vm.name} ansible_host=${vm.address}\n`).join('')}`);
  const sshArgs = `-F none -o UserKnownHostsFile=${context.knownHostsPath} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o ControlMaster=auto -o ControlPersist=60s`;
  const config = path.join(dir, 'ansible.cfg');
  await writeFile(
    config,
    [
      '[defaults]',
      'host_key_checking = True',
      'retry_files_enabled = False',
      'interpreter_python = /usr/bin/python3',
      `remote_user = vmadmin`,
      `private_key_file = ${context.privateKeyPath}`,
      '[ssh_connection]',
      `ssh_args = ${sshArgs}`,
      `control_path = ${controlDir}/%%C`,
      '',
    ].join('\n'),
  );
  return { config, inventory, controlDir };
}

export async function runAnsible(context: FleetContext, fleet: readonly FleetVm[]): Promise<MethodRun> {
  const { config, inventory, controlDir } = await writeAnsibleFiles(context, fleet);
  const argv = ['ansible-playbook', '-i', inventory, '-f', String(fleet.length), '-e', `bundle_root=${path.join(context.workDir, 'bundles')}`, path.join(here, 'install-playbook.yaml')];
  const run = await runController(argv, { env: { ANSIBLE_CONFIG: config, ANSIBLE_NOCOLOR: '1' }, timesFile: path.join(context.workDir, 'ansible.times'), timeoutMs: RUN_TIMEOUT_MS });
  // ControlPersist masters outlive the playbook: stop them so no run reuses another's connections.
  await Promise.all(fleet.map((vm) => runChecked('ssh', ['-F', 'none', '-o', `ControlPath=${controlDir}/%C`, '-O', 'exit', `vmadmin@${vm.address}`]).catch(() => undefined)));
  if (run.exitCode !== 0) throw new Error(`ansible-playbook failed (${run.exitCode}): ${run.output.slice(-3000)}`);
  return { method: 'ansible', vms: fleet.length, wallMs: run.wallMs, cpuMs: run.cpuMs, peakRssBytes: run.peakRssBytes };
}
