import { expect } from 'chai';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildStandInSidecarDeb, type StandInDeb } from '../support/istio-sidecar-package/build-stand-in-sidecar-deb.js';
import { startLab, type Lab, type TestVm } from '../support/lab/lab.js';
import { agentLogs, rewrittenByPackageTools, snapshotTree, treeDiff, type Tree } from '../support/lab/vm-tree.js';
import { pollUntil } from '../support/lab/wait-for.js';
import { appendToRunLog } from '../support/run-log.js';
import { TEST_ROOT_CERT, TEST_TOKEN_MARKER, makeTestToken } from '../support/test-credentials.js';

// The install script on real lab VMs (systemd, dpkg, iptables): install, no-op re-run, rollback on
// failure, remove. "Before" and "after" are compared as whole file trees, not by a list of files the
// script is believed to touch.

const scriptSource = fileURLToPath(new URL('../../cloud-init/install-sidecar.sh', import.meta.url));
const bundleInVm = '/root/bundle';
const spiffeId = 'spiffe://cluster.local/ns/vm-ns/sa/vm-sa';
const token = makeTestToken('vm-ns', 'vm-sa');
const freshToken = makeTestToken('vm-ns', 'vm-sa', { expiresAt: 4102448400 });
const closedPort = 15999;
const tagLine = (ip: string): string => `${ip} istiod.istio-system.svc # vm-sidecar-injector`;

// What istioctl x workload entry configure writes (cluster.env is byte-sorted and shell-quoted).
const clusterEnv = `CANONICAL_REVISION=latest
CANONICAL_SERVICE=vm-app
ISTIO_INBOUND_PORTS='*'
ISTIO_LOCAL_EXCLUDE_PORTS=22,15090,15021,15020
ISTIO_METAJSON_LABELS='{"app":"vm-app"}'
ISTIO_META_CLUSTER_ID=Kubernetes
ISTIO_META_DNS_CAPTURE=true
ISTIO_META_MESH_ID=''
ISTIO_META_NETWORK=''
ISTIO_META_WORKLOAD_NAME=vm-app
ISTIO_NAMESPACE=vm-ns
ISTIO_SERVICE=vm-app.vm-ns
ISTIO_SERVICE_CIDR='*'
ISTIO_SVC_IP=198.51.100.10
POD_NAMESPACE=vm-ns
SERVICE_ACCOUNT=vm-sa
TRUST_DOMAIN=cluster.local
`;
const meshYaml = `defaultConfig:
  discoveryAddress: istiod.istio-system.svc:15012
  proxyMetadata:
    CANONICAL_REVISION: latest
    CANONICAL_SERVICE: vm-app
    ISTIO_META_CLUSTER_ID: Kubernetes
    ISTIO_META_DNS_CAPTURE: "true"
    POD_NAMESPACE: vm-ns
    SERVICE_ACCOUNT: vm-sa
    TRUST_DOMAIN: cluster.local
`;

/** Where each bundle file lands, with the owner and mode the contract gives it. */
const installedFiles = [
  { path: '/var/lib/istio/envoy/cluster.env', owner: 'istio-proxy:istio-proxy', mode: '644', content: clusterEnv },
  { path: '/etc/istio/config/mesh', owner: 'istio-proxy:istio-proxy', mode: '644', content: meshYaml },
  { path: '/etc/certs/root-cert.pem', owner: 'istio-proxy:istio-proxy', mode: '644', content: TEST_ROOT_CERT },
  { path: '/var/run/secrets/tokens/istio-token', owner: 'istio-proxy:istio-proxy', mode: '400', content: token },
];

interface VmsiResult {
  status: string;
  changed: boolean;
  spiffeId: string;
  reason: string;
}

interface ScriptRun {
  code: number;
  stdout: string;
  stderr: string;
  result: VmsiResult;
}

interface BundleOptions {
  sha256: string;
  token?: string;
  gatewayAddress?: string;
  packageUrl?: string;
  packagePath?: string;
  statusPort?: number;
  readyTimeoutSeconds?: number;
  clusterEnv?: string;
  extraInjectorLine?: string;
}

function parseResult(stdout: string): VmsiResult {
  const last = stdout.trimEnd().split('\n').at(-1) ?? '';
  expect(last, 'the last line of stdout').to.match(/^VMSI-RESULT \{/);
  return JSON.parse(last.slice('VMSI-RESULT '.length)) as VmsiResult;
}

async function runScript(vm: TestVm, command: 'install' | 'remove'): Promise<ScriptRun> {
  const out = await vm.run([`${bundleInVm}/install-sidecar.sh`, command, bundleInVm], { timeoutMs: 180_000 });
  appendToRunLog(`install-sidecar.sh ${command} on ${vm.name}`, `${out.stdout}${out.stderr}`);
  expect(`${out.stdout}${out.stderr}`, 'the script output').not.to.include(TEST_TOKEN_MARKER);
  return { ...out, result: parseResult(out.stdout) };
}

function injectorEnv(options: BundleOptions): string {
  const packageFile = options.packagePath === undefined ? '' : 'istio-sidecar.deb';
  return [
    'VMSI_FORMAT=1',
    `PACKAGE_FILE=${packageFile}`,
    `PACKAGE_URL=${options.packageUrl ?? ''}`,
    `PACKAGE_SHA256=${options.sha256}`,
    'PACKAGE_FORMAT=deb',
    `READY_TIMEOUT_SECONDS=${options.readyTimeoutSeconds ?? 60}`,
    'MIN_FREE_MB=64',
    `EXPECTED_SPIFFE_ID=${spiffeId}`,
    `STATUS_PORT=${options.statusPort ?? 15021}`,
    ...(options.extraInjectorLine === undefined ? [] : [options.extraInjectorLine]),
    '',
  ].join('\n');
}

/** Lays the bundle out in the VM as the SSH and cloud-init deliveries do: root-only, token 0400. */
async function writeBundle(vm: TestVm, lab: Lab, options: BundleOptions): Promise<void> {
  const dir = join(vm.rootDir, bundleInVm);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { mode: 0o700 });
  await writeFile(join(dir, 'install-sidecar.sh'), await readFile(scriptSource), { mode: 0o700 });
  await writeFile(join(dir, 'injector.env'), injectorEnv(options), { mode: 0o600 });
  await writeFile(join(dir, 'cluster.env'), options.clusterEnv ?? clusterEnv, { mode: 0o644 });
  await writeFile(join(dir, 'mesh.yaml'), meshYaml, { mode: 0o644 });
  await writeFile(join(dir, 'root-cert.pem'), TEST_ROOT_CERT, { mode: 0o644 });
  await writeFile(join(dir, 'istio-token'), options.token ?? token, { mode: 0o400 });
  await writeFile(join(dir, 'hosts'), `${options.gatewayAddress ?? lab.bridgeAddress} istiod.istio-system.svc\n`, { mode: 0o644 });
  if (options.packagePath !== undefined) await copyFile(options.packagePath, join(dir, 'istio-sidecar.deb'));
}

async function runIn(vm: TestVm, command: string[]): Promise<string> {
  const out = await vm.run(command);
  return `${out.stdout.trim()}${out.code === 0 ? '' : ` (exit ${out.code})`}`;
}

async function readyStatus(vm: TestVm): Promise<string> {
  return runIn(vm, ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', 'http://localhost:15021/healthz/ready']);
}

/** Bounded: the agent needs a moment after a restart before it answers. */
async function waitUntilReady(vm: TestVm): Promise<void> {
  await pollUntil(async () => ((await readyStatus(vm)) === '200' ? true : undefined), { timeoutMs: 30_000, intervalMs: 250, what: 'istio ready' });
}

function packageDownloads(lab: Lab): number {
  return lab.packages.requests().filter((request) => request.path === '/files/istio-sidecar.deb').length;
}

function taggedHostsLines(hosts: string): string[] {
  return hosts.split('\n').filter((line) => line.endsWith('# vm-sidecar-injector'));
}

describe('install-sidecar.sh on a lab VM', function () {
  this.timeout(300_000);
  let lab: Lab;
  let deb: StandInDeb;
  let packageUrl: string;

  before(async function () {
    lab = await startLab();
    deb = await buildStandInSidecarDeb(join(lab.workDir, 'packages'));
    packageUrl = lab.publishFile(deb.path, 'istio-sidecar.deb');
  });

  after(async function () {
    await lab?.close();
  });

  describe('a downloaded package, installed, re-run and removed', function () {
    let vm: TestVm;
    let pristine: Tree;
    let install: ScriptRun;
    let downloads: number;

    before(async function () {
      vm = await lab.startVm();
      pristine = await snapshotTree(vm);
      await writeBundle(vm, lab, { sha256: deb.sha256, packageUrl });
      downloads = packageDownloads(lab);
      install = await runScript(vm, 'install');
    });

    after(async function () {
      await vm?.stop();
    });

    it('reports installed with the expected identity', function () {
      expect(install.code, install.stdout).to.equal(0);
      expect(install.result).to.deep.equal({ status: 'installed', changed: true, spiffeId, reason: '' });
      expect(packageDownloads(lab) - downloads).to.equal(1);
    });

    it('enables and starts istio, whose agent answers ready', async function () {
      expect(await runIn(vm, ['systemctl', 'is-enabled', 'istio'])).to.equal('enabled');
      expect(await runIn(vm, ['systemctl', 'is-active', 'istio'])).to.equal('active');
      expect(await readyStatus(vm)).to.equal('200');
    });

    it("places every file where Istio's VM guide puts it, with its owner and mode", async function () {
      for (const file of installedFiles) {
        expect(await runIn(vm, ['stat', '-c', '%U:%G %a', file.path]), file.path).to.equal(`${file.owner} ${file.mode}`);
        expect(await runIn(vm, ['cat', file.path]), file.path).to.equal(file.content.trim());
      }
      expect(await runIn(vm, ['stat', '-c', '%U %a', '/var/lib/vm-sidecar-injector'])).to.equal('root 700');
      expect(await runIn(vm, ['stat', '-c', '%U %a', '/var/lib/vm-sidecar-injector/state.env'])).to.equal('root 600');
      expect(await runIn(vm, ['find', '/var/lib/istio', '/etc/certs', '/var/run/secrets/', '-perm', '-o+w', '!', '-type', 'l'])).to.equal('');
    });

    it('keeps SSH replies out of the capture with one guard rule ahead of istio', async function () {
      const output = (await runIn(vm, ['iptables', '-t', 'nat', '-S', 'OUTPUT'])).split('\n').filter((line) => line.startsWith('-A OUTPUT'));
      expect(output[0]).to.include('--sport 22').and.to.include('vm-sidecar-injector-ssh-guard');
      expect(output.filter((line) => line.includes('ssh-guard'))).to.have.length(1);
    });

    it('adds exactly one tagged hosts line for istiod', async function () {
      const hosts = await readFile(join(vm.rootDir, 'etc/hosts'), 'utf8');
      expect(taggedHostsLines(hosts)).to.deep.equal([tagLine(lab.bridgeAddress)]);
      expect(hosts).not.to.match(/\n\n/);
    });

    it('changes nothing on a second run and says unchanged', async function () {
      const before = await snapshotTree(vm);
      const downloadsBefore = packageDownloads(lab);
      const again = await runScript(vm, 'install');
      expect(again.code, again.stdout).to.equal(0);
      expect(again.result).to.deep.equal({ status: 'unchanged', changed: false, spiffeId, reason: '' });
      expect(treeDiff(before, await snapshotTree(vm), { mtimes: true, ignore: agentLogs })).to.deep.equal([]);
      // Once istio runs, egress goes through the mesh: a re-run must not need to download again.
      expect(packageDownloads(lab)).to.equal(downloadsBefore);
    });

    it('re-onboards with a fresh token: rewrites only the token and restarts istio', async function () {
      const before = await snapshotTree(vm);
      const activeSince = await runIn(vm, ['systemctl', 'show', '-P', 'ActiveEnterTimestampMonotonic', 'istio']);
      await writeBundle(vm, lab, { sha256: deb.sha256, packageUrl, token: freshToken });
      const again = await runScript(vm, 'install');
      expect(again.code, again.stdout).to.equal(0);
      expect(again.result).to.deep.equal({ status: 'installed', changed: true, spiffeId, reason: '' });
      const changes = treeDiff(before, await snapshotTree(vm), { mtimes: true, ignore: agentLogs });
      // The token and, through the rename that replaced it, its directory's mtime: nothing else.
      expect(changes.map((line) => line.split(' ')[1])).to.deep.equal(['/run/secrets/tokens', '/run/secrets/tokens/istio-token']);
      expect(changes[0]).to.match(/^~ \/run\/secrets\/tokens mtime /);
      expect(await runIn(vm, ['cat', '/var/run/secrets/tokens/istio-token'])).to.equal(freshToken);
      expect(await runIn(vm, ['systemctl', 'show', '-P', 'ActiveEnterTimestampMonotonic', 'istio'])).not.to.equal(activeSince);
    });

    it('a failed re-run puts the previous install back and istio keeps serving', async function () {
      const before = await snapshotTree(vm);
      await writeBundle(vm, lab, { sha256: deb.sha256, packageUrl, token: freshToken, gatewayAddress: '203.0.113.7', statusPort: closedPort, readyTimeoutSeconds: 2 });
      const again = await runScript(vm, 'install');
      expect(again.code).to.not.equal(0);
      expect(again.result).to.include({ status: 'failed', changed: false });
      expect(treeDiff(before, await snapshotTree(vm), { ignore: agentLogs })).to.deep.equal([]);
      expect(taggedHostsLines(await readFile(join(vm.rootDir, 'etc/hosts'), 'utf8'))).to.deep.equal([tagLine(lab.bridgeAddress)]);
      expect(await runIn(vm, ['systemctl', 'is-active', 'istio'])).to.equal('active');
      await waitUntilReady(vm);
      await writeBundle(vm, lab, { sha256: deb.sha256, packageUrl, token: freshToken });
    });

    it('remove returns the VM to its pre-install tree', async function () {
      const removal = await runScript(vm, 'remove');
      expect(removal.code, removal.stdout).to.equal(0);
      expect(removal.result).to.deep.equal({ status: 'removed', changed: true, spiffeId, reason: '' });
      expect(treeDiff(pristine, await snapshotTree(vm), { ignore: rewrittenByPackageTools })).to.deep.equal([]);
      const nat = await runIn(vm, ['iptables-save', '-t', 'nat']);
      expect(nat).not.to.include('ISTIO_');
      expect(nat).not.to.include('ssh-guard');
      expect(await runIn(vm, ['getent', 'passwd', 'istio-proxy'])).to.equal(' (exit 2)');
    });

    it('a second remove reports absent', async function () {
      const removal = await runScript(vm, 'remove');
      expect(removal.code, removal.stdout).to.equal(0);
      expect(removal.result.status).to.equal('absent');
    });
  });

  it('installs a package pushed in the bundle without downloading anything', async function () {
    const vm = await lab.startVm();
    try {
      const downloads = packageDownloads(lab);
      await writeBundle(vm, lab, { sha256: deb.sha256, packagePath: deb.path });
      const install = await runScript(vm, 'install');
      expect(install.code, install.stdout).to.equal(0);
      expect(install.result.status).to.equal('installed');
      expect(packageDownloads(lab)).to.equal(downloads);
      expect(await runIn(vm, ['dpkg-query', '-W', '-f', '${Version}', 'istio-sidecar'])).to.equal(deb.version);
    } finally {
      await vm.stop();
    }
  });

  it('refuses in preflight with a one-line reason and changes nothing', async function () {
    const vm = await lab.startVm();
    try {
      const before = await snapshotTree(vm);
      const base = { sha256: deb.sha256, packageUrl };
      const refusals: Array<{ bundle: BundleOptions; setup?: string[]; undo?: string[]; reason: string }> = [
        { bundle: { ...base, extraInjectorLine: 'EXTRA=1' }, reason: "preflight: injector.env line 10: unknown key 'EXTRA'" },
        {
          bundle: { ...base, clusterEnv: `${clusterEnv}ISTIO_AGENT_FLAGS=$(touch /tmp/owned)\n` },
          reason: "preflight: cluster.env line 18 is not a plain KEY='value' assignment (istio-start.sh sources it)",
        },
        {
          bundle: { ...base, clusterEnv: clusterEnv.replace('ISTIO_LOCAL_EXCLUDE_PORTS=22,', 'ISTIO_LOCAL_EXCLUDE_PORTS=') },
          reason: 'preflight: cluster.env: ISTIO_LOCAL_EXCLUDE_PORTS must include 22 so SSH is never captured',
        },
        {
          bundle: base,
          setup: ['systemd-run', '--unit=busy-port', 'python3', '-m', 'http.server', '--bind', '127.0.0.1', '15001'],
          undo: ['systemctl', 'stop', 'busy-port'],
          reason: 'preflight: port 15001 is already in use',
        },
        {
          bundle: base,
          setup: ['iptables', '-t', 'nat', '-N', 'ISTIO_OUTPUT'],
          undo: ['iptables', '-t', 'nat', '-X', 'ISTIO_OUTPUT'],
          reason: 'preflight: stale ISTIO_ chains in iptables table nat from an earlier sidecar; remove them first',
        },
      ];
      for (const refusal of refusals) {
        await writeBundle(vm, lab, refusal.bundle);
        if (refusal.setup !== undefined) await runIn(vm, refusal.setup);
        if (refusal.setup?.[0] === 'systemd-run') await pollUntil(async () => ((await runIn(vm, ['ss', '-Hltn', 'sport = :15001'])) === '' ? undefined : true), { timeoutMs: 10_000, what: 'busy port' });
        const install = await runScript(vm, 'install');
        if (refusal.undo !== undefined) await runIn(vm, refusal.undo);
        expect(install.code).to.equal(1);
        expect(install.result).to.deep.equal({ status: 'failed', changed: false, spiffeId, reason: refusal.reason });
      }
      expect(await runIn(vm, ['test', '-e', '/tmp/owned'])).to.equal(' (exit 1)');
      expect(treeDiff(before, await snapshotTree(vm), { mtimes: true })).to.deep.equal([]);
    } finally {
      await vm.stop();
    }
  });

  it('a wrong sha256 fails before anything on the VM changes', async function () {
    const vm = await lab.startVm();
    try {
      const before = await snapshotTree(vm);
      await writeBundle(vm, lab, { sha256: 'a'.repeat(64), packageUrl });
      const install = await runScript(vm, 'install');
      expect(install.code).to.not.equal(0);
      expect(install.result.status).to.equal('failed');
      expect(install.result.changed).to.equal(false);
      expect(install.result.reason).to.match(/^package: package sha256 is [0-9a-f]{64}, expected a{64}/);
      expect(treeDiff(before, await snapshotTree(vm), { mtimes: true })).to.deep.equal([]);
    } finally {
      await vm.stop();
    }
  });

  it('a failure after the package install undoes everything this run did', async function () {
    const vm = await lab.startVm();
    try {
      const before = await snapshotTree(vm);
      const hostsBefore = await readFile(join(vm.rootDir, 'etc/hosts'), 'utf8');
      await writeBundle(vm, lab, { sha256: deb.sha256, packagePath: deb.path, statusPort: closedPort, readyTimeoutSeconds: 3 });
      const install = await runScript(vm, 'install');
      expect(install.code).to.not.equal(0);
      expect(install.result.status).to.equal('failed');
      expect(install.result.reason).to.include(`localhost:${closedPort}/healthz/ready did not answer 200 within 3s`);
      expect(install.stdout).to.include('vmsi: rollback:');
      expect(treeDiff(before, await snapshotTree(vm), { ignore: rewrittenByPackageTools })).to.deep.equal([]);
      expect(await readFile(join(vm.rootDir, 'etc/hosts'), 'utf8')).to.equal(hostsBefore);
      expect(await runIn(vm, ['systemctl', 'is-enabled', 'istio'])).to.not.equal('enabled');
      expect(await runIn(vm, ['iptables-save', '-t', 'nat'])).not.to.include('ISTIO_');
    } finally {
      await vm.stop();
    }
  });
  it('a run stopped by a signal rolls back, exits 130 and leaves no scratch directory; one a killed run left is removed', async function () {
    const vm = await lab.startVm();
    try {
      const before = await snapshotTree(vm);
      expect((await vm.run(['install', '-d', '-m', '0700', '/run/vmsi-work.killed1'])).code).to.equal(0);
      // A closed status port keeps the run in its ready wait, after it changed the VM.
      await writeBundle(vm, lab, { sha256: deb.sha256, packagePath: deb.path, statusPort: closedPort, readyTimeoutSeconds: 120 });
      const install = runScript(vm, 'install');
      await pollUntil(async () => ((await runIn(vm, ['systemctl', 'is-active', 'istio'])) === 'active' ? true : undefined), { timeoutMs: 60_000, intervalMs: 200, what: 'istio started by the run' });
      expect(await runIn(vm, ['pkill', '-TERM', '-f', `${bundleInVm}/install-sidecar.sh install`])).to.not.include('exit');
      const stopped = await install;
      expect(stopped.code).to.equal(130);
      expect(stopped.result).to.include({ status: 'failed', changed: false });
      expect(stopped.result.reason).to.include('interrupted by a signal');
      expect(treeDiff(before, await snapshotTree(vm), { ignore: rewrittenByPackageTools })).to.deep.equal([]);
      expect(await runIn(vm, ['find', '/run', '-maxdepth', '1', '-name', 'vmsi-work.*'])).to.equal('');
    } finally {
      await vm.stop();
    }
  });
});
