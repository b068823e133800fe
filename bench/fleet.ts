import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildStandInSidecarDeb } from '../test/support/istio-sidecar-package/build-stand-in-sidecar-deb.js';
import { startLab, type Lab } from '../test/support/lab/lab.js';
import { runChecked } from '../test/support/lab/run-command.js';
import { ServiceProcess } from '../test/support/service-process.js';
import { PROJECT_ROOT } from '../test/support/vmsi-cli.js';
import { WebhookReceiver } from '../test/support/webhook-receiver.js';
import { bootFleet, resetFleet, type FleetVm } from './fleet/fleet-lab.js';
import { runAnsible, runFloor, runProduct, writeRenderedBundles, type FleetContext, type MethodName, type MethodRun } from './fleet/fleet-methods.js';
import { checkTargets, METHODS, printReport, summarizeRuns, type FleetResults } from './fleet/fleet-report.js';

/**
 * `npm run bench:fleet -- --vms 10,25,50`: the product against Ansible and the OpenSSH floor on
 * the same lab VMs, the same rendered bundles and the same install script, interleaved, each run
 * on VMs reset to their state before any install (docs/performance.md). Needs root, like the lab.
 */
const { values } = parseArgs({
  options: {
    vms: { type: 'string', default: '10,25,50' },
    repetitions: { type: 'string', default: '3' },
    out: { type: 'string' },
    'max-minutes': { type: 'string', default: '20' },
    methods: { type: 'string', default: METHODS.join(',') },
    'cpu-prof-dir': { type: 'string' },
  },
});
const vmCounts = (values.vms ?? '').split(',').map(Number).sort((a, b) => a - b);
const repetitions = Number(values.repetitions);
const budgetMs = Number(values['max-minutes']) * 60_000;
const methods = (values.methods ?? '').split(',') as MethodName[];
if (vmCounts.some((count) => !Number.isInteger(count) || count < 1 || count > 50) || !(repetitions >= 1) || methods.some((method) => !METHODS.includes(method))) {
  console.error('usage: npm run bench:fleet -- [--vms 10,25,50] [--repetitions 3] [--methods product,ansible,floor] [--out FILE] [--max-minutes 20] [--cpu-prof-dir DIR]  (1 to 50 VMs per size)');
  process.exit(2);
}
if (process.getuid?.() !== 0) {
  console.error('bench:fleet needs root (it runs the test-VM lab).');
  process.exit(2);
}
const startedAt = Date.now();
const maxVms = Math.max(...vmCounts);

/** Debian's ansible-core, installed here so a fresh machine needs nothing by hand. */
function ensureAnsible(): string {
  try {
    execFileSync('dpkg-query', ['-W', 'ansible-core'], { stdio: 'ignore' });
  } catch {
    console.log('installing ansible-core (Debian)…');
    execFileSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '-qq', '--no-install-recommends', 'ansible-core'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  return execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'ansible-core'], { encoding: 'utf8' });
}

function machine(ansible: string): FleetResults['machine'] {
  const cpus = os.cpus();
  return { cpus: cpus.length, cpuModel: cpus[0]?.model ?? '', memoryGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), node: process.version, ansible, loadAverage: os.loadavg() };
}

const runners: Record<MethodName, (context: FleetContext, fleet: readonly FleetVm[]) => Promise<MethodRun>> = { product: runProduct, ansible: runAnsible, floor: runFloor };

/** Every method once at one size; the order rotates, so no method always runs first (cold caches) or last. */
async function measureRound(context: FleetContext, fleet: readonly FleetVm[], repetition: number): Promise<MethodRun[] | undefined> {
  const runs: MethodRun[] = [];
  for (const method of methods.map((_, index) => methods[(index + repetition) % methods.length] as MethodName)) {
    if (Date.now() - startedAt > budgetMs) return undefined;
    const run = await runners[method](context, fleet);
    console.log(`repetition ${repetition + 1}/${repetitions}, ${fleet.length} VMs, ${method}: ${(run.wallMs / 1000).toFixed(2)} s wall, ${(run.cpuMs / 1000).toFixed(2)} s CPU`);
    runs.push(run);
    await resetFleet(fleet);
  }
  return runs;
}

async function measure(context: FleetContext, fleet: readonly FleetVm[]): Promise<{ runs: MethodRun[]; complete: boolean }> {
  const runs: MethodRun[] = [];
  for (let repetition = 0; repetition < repetitions; repetition++) {
    for (const vms of vmCounts) {
      const round = await measureRound(context, fleet.slice(0, vms), repetition);
      if (round === undefined) return { runs, complete: false };
      runs.push(...round);
    }
  }
  return { runs, complete: true };
}

async function prepareContext(lab: Lab, service: ServiceProcess, receiver: WebhookReceiver, fleet: readonly FleetVm[]): Promise<FleetContext> {
  const deb = await buildStandInSidecarDeb(path.join(lab.workDir, 'deb'));
  const knownHostsPath = path.join(lab.workDir, 'known_hosts');
  writeFileSync(knownHostsPath, fleet.map((vm) => `${vm.address} ${vm.hostPublicKey}\n`).join(''));
  const context: FleetContext = {
    service,
    receiver,
    workDir: lab.workDir,
    privateKeyPath: lab.clientKey.privateKeyPath,
    knownHostsPath,
    packageUrl: lab.publishFile(deb.path, 'istio-sidecar.deb'),
    packageSha256: deb.sha256,
    gatewayIp: lab.bridgeAddress,
  };
  await writeRenderedBundles(context, fleet);
  return context;
}

const profileDir = values['cpu-prof-dir'];
// A profile of the service across all its runs, for finding what dominates its time (docs/performance.md).
const profiling = profileDir === undefined ? {} : { nodeOptions: ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profileDir)}`] };
const ansible = ensureAnsible();
console.log('building the service (npm run build)…');
// tsc over the whole project: over a minute on a busy 2-core machine.
await runChecked('npm', ['run', '--silent', 'build'], { cwd: PROJECT_ROOT, timeoutMs: 10 * 60_000 });
const lab = await startLab();
const secret = randomBytes(32);
const receiver = new WebhookReceiver(secret);
let service: ServiceProcess | undefined;
try {
  await receiver.start();
  service = new ServiceProcess({ privateKeyPath: lab.clientKey.privateKeyPath, webhook: { url: receiver.url, secret, deadline: '60s' }, jobConcurrency: maxVms, connectDeadline: '90s', logLevel: 'info', fromBuild: true, ...profiling });
  await service.start();
  console.log(`booting ${maxVms} VMs (not timed)…`);
  const fleet = await bootFleet(lab, maxVms);
  const context = await prepareContext(lab, service, receiver, fleet);
  const { runs, complete } = await measure(context, fleet);
  const summary = summarizeRuns(runs, vmCounts);
  const results: FleetResults = { date: new Date().toISOString(), machine: machine(ansible), vmCounts, repetitions, runs, summary, targets: checkTargets(summary, vmCounts) };
  printReport(results);
  const out = values.out ?? path.join(PROJECT_ROOT, 'bench', 'results', `fleet-${results.date.slice(0, 10)}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`results written to ${out}${complete ? '' : ' (INCOMPLETE: the time budget ran out)'}`);
  if (!complete || results.targets.some((check) => !check.met)) process.exitCode = 1;
} finally {
  await service?.remove();
  await receiver.stop();
  await lab.close();
}
