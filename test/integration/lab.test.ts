import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { appendFile, copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildStandInSidecarDeb, type StandInDeb } from '../support/istio-sidecar-package/build-stand-in-sidecar-deb.js';
import { defaultCacheDir } from '../support/lab/base-root.js';
import { startLab, type Lab, type TestVm } from '../support/lab/lab.js';
import { runCommand, type CommandResult } from '../support/lab/run-command.js';
import { hasSshBanner, pollUntil } from '../support/lab/wait-for.js';

/*
 * The lab itself: real systemd and OpenSSH in nspawn VMs on a private bridge. Needs root (CI runs
 * as root). Each test boots its own VMs (under a second each) so no test depends on another's state.
 */

function sshArgs(lab: Lab, knownHosts: string): string[] {
  return [
    '-i', lab.clientKey.privateKeyPath,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'ConnectTimeout=5',
  ];
}

async function pinHostKey(lab: Lab, vm: TestVm, hostKey: string): Promise<string> {
  const file = join(lab.workDir, `known_hosts-${vm.name}`);
  await writeFile(file, `${vm.address} ${hostKey}\n`);
  return file;
}

function ssh(lab: Lab, knownHosts: string, target: string, command: string): Promise<CommandResult> {
  return runCommand('ssh', [...sshArgs(lab, knownHosts), target, command], { timeoutMs: 20_000 });
}

async function inVm(vm: TestVm, script: string): Promise<string> {
  const result = await vm.run(['bash', '-euo', 'pipefail', '-c', script]);
  expect(result.code, `${script}\n${result.stderr}`).to.equal(0);
  return result.stdout.trim();
}

async function httpStatusFromHost(url: string): Promise<number | string> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(3_000) })).status;
  } catch (error) {
    return String((error as { cause?: { code?: string } }).cause?.code ?? error);
  }
}

/** The readiness endpoint's status once the agent answers at all (000: not listening yet). */
function readiness(vm: TestVm): Promise<string> {
  const probe = async (): Promise<string | undefined> => {
    const result = await vm.run(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://localhost:15021/healthz/ready']);
    return result.stdout === '000' ? undefined : result.stdout;
  };
  return pollUntil(probe, { timeoutMs: 10_000, what: 'the agent on :15021' });
}

function fakeServiceAccountToken(namespace: string, account: string): string {
  const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256' })}.${part({ sub: `system:serviceaccount:${namespace}:${account}`, aud: ['istio-ca'] })}.c2ln`;
}

const clusterEnvWithoutSvcIp = [
  "ISTIO_INBOUND_PORTS='*'",
  "ISTIO_LOCAL_EXCLUDE_PORTS='22,15090,15021,15020'",
  "ISTIO_NAMESPACE='ns1'",
  "ISTIO_SERVICE='web.ns1'",
  "ISTIO_SERVICE_CIDR='*'",
  "SERVICE_ACCOUNT='sa1'",
  '',
].join('\n');

describe('test VM lab (integration, root)', function () {
  this.timeout(180_000);
  let lab: Lab | undefined;
  let deb: StandInDeb;

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.warn('    lab tests skipped: they need root (systemd-nspawn, network namespaces, overlay mounts)');
      this.skip();
    }
    try {
      lab = await startLab();
    } catch (error) {
      // Only a missing base that cannot be built skips; a stale base that fails to rebuild is an error.
      const unbuildable = (error as Error).message === 'The VM base root could not be prepared.' && !existsSync(`${defaultCacheDir}/base-bookworm`);
      if (!unbuildable) throw error;
      console.warn(`    lab tests skipped: no base root in ${defaultCacheDir} and scripts/prepare-test-host.sh could not build one`);
      this.skip();
    }
    deb = await buildStandInSidecarDeb(lab.workDir);
  });

  after(async () => {
    await lab?.close();
  });

  function theLab(): Lab {
    if (lab === undefined) throw new Error('The lab is not running.');
    return lab;
  }

  it('boots a VM the real ssh client reaches as vmadmin, pinned to its own host key, with passwordless sudo', async () => {
    const vm = await theLab().startVm({ name: 'alpha' });
    const hostKey = await vm.hostPublicKey();
    expect(hostKey).to.match(/^ssh-ed25519 AAAA[0-9A-Za-z+/=]+$/);
    const knownHosts = await pinHostKey(theLab(), vm, hostKey);

    const session = await ssh(theLab(), knownHosts, `vmadmin@${vm.address}`, 'sudo -n true && id -un && sudo -n id -un && hostname');
    expect(session.stderr).to.equal('');
    expect(session.stdout.split('\n')).to.deep.equal(['vmadmin', 'root', 'alpha', '']);

    const other = await theLab().startVm();
    const wrongPin = await pinHostKey(theLab(), vm, await other.hostPublicKey());
    const refused = await ssh(theLab(), wrongPin, `vmadmin@${vm.address}`, 'true');
    expect(refused.code).to.equal(255);
    expect(refused.stderr).to.contain('Host key verification failed');
    await Promise.all([vm.stop(), other.stop()]);
  });

  describe('the stand-in sidecar, installed with dpkg -i', () => {
    let vm: TestVm;
    const log = (): Promise<string> => inVm(vm, 'cat /var/log/istio/istio.err.log');

    before(async () => {
      vm = await theLab().startVm();
      // /var/tmp, not /tmp: the VM mounts its own tmpfs over /tmp, which the host does not see.
      await copyFile(deb.path, join(vm.rootDir, 'var/tmp/istio-sidecar.deb'));
      await inVm(vm, 'dpkg -i /var/tmp/istio-sidecar.deb');
      // Port 8080 stands for the workload, reachable before and after the sidecar captures its traffic.
      await inVm(vm, 'systemd-run --unit=workload python3 -m http.server 8080');
      await pollUntil(async () => ((await httpStatusFromHost(`http://${vm.address}:8080/`)) === 200 ? true : undefined), {
        timeoutMs: 10_000,
        what: 'the workload on 8080',
      });
    });

    after(async () => {
      await vm?.stop();
    });

    it('behaves like the real package: istio-proxy user, /etc/istio link, owned directories, unit not enabled', async () => {
      expect(await inVm(vm, 'getent passwd istio-proxy | cut -d: -f1,6')).to.equal('istio-proxy:/var/lib/istio');
      expect(await inVm(vm, 'readlink /etc/istio')).to.equal('/var/lib/istio');
      expect(await inVm(vm, 'stat -c %U /var/lib/istio/envoy /var/lib/istio/proxy /var/log/istio /etc/certs | sort -u')).to.equal('istio-proxy');
      expect((await vm.run(['systemctl', 'is-enabled', 'istio'])).stdout.trim()).to.equal('disabled');
    });

    it('starts unready (503) without the onboarding files, with its nat chains in the VM only', async () => {
      await writeFile(join(vm.rootDir, 'var/lib/istio/envoy/cluster.env'), clusterEnvWithoutSvcIp);
      await inVm(vm, 'systemctl start istio');
      expect(await readiness(vm)).to.equal('503');
      const natInVm = await inVm(vm, 'iptables -t nat -S');
      expect(natInVm).to.contain('-N ISTIO_INBOUND').and.contain('-N ISTIO_OUTPUT').and.contain('-N ISTIO_REDIRECT');
      expect(natInVm).to.contain('-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN');
      expect((await runCommand('iptables', ['-t', 'nat', '-S'])).stdout).to.not.contain('ISTIO_');
    });

    it('keeps SSH out of the capture and passes captured traffic through, inbound and outbound', async () => {
      expect(await hasSshBanner(vm.address, 22, 2_000)).to.equal(true);
      expect(await httpStatusFromHost(`http://${vm.address}:8080/`)).to.equal(200);
      expect(await log()).to.contain(`inbound passthrough to ${vm.address}:8080`).and.not.contain(':22\n');
      // ISTIO_SERVICE_CIDR='*' captures root's outbound connections too; they go through :15001.
      const url = theLab().publishFile(deb.path, 'sidecar-copy.deb');
      expect(await inVm(vm, `curl -sf ${url} | sha256sum | cut -d' ' -f1`)).to.equal(deb.sha256);
      expect(await log()).to.contain(`outbound passthrough to ${theLab().bridgeAddress}:`);
    });

    it('turns ready (200) once the onboarding files are in place, with a certificate for the identity in its token', async () => {
      // What the bundle provides (docs/bundle-contract.md). /var/run is the VM's own tmpfs: written from inside.
      await appendFile(join(vm.rootDir, 'var/lib/istio/envoy/cluster.env'), `ISTIO_SVC_IP='${vm.address}'\n`);
      await writeFile(join(vm.rootDir, 'var/lib/istio/config/mesh'), 'defaultConfig:\n  proxyMetadata:\n    TRUST_DOMAIN: example.org\n');
      await writeFile(join(vm.rootDir, 'etc/certs/root-cert.pem'), '-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n');
      const token = fakeServiceAccountToken('ns1', 'sa1');
      await inVm(vm, 'install -d /var/run/secrets/tokens');
      expect((await vm.run(['install', '-m', '0400', '/dev/stdin', '/var/run/secrets/tokens/istio-token'], { input: token })).code).to.equal(0);
      await inVm(vm, 'chown -R istio-proxy:istio-proxy /var/lib/istio /etc/certs /var/run/secrets/tokens/istio-token');
      expect(await readiness(vm)).to.equal('200');
      const san = await inVm(vm, 'openssl x509 -in /etc/certs/cert-chain.pem -noout -ext subjectAltName | tail -1');
      expect(san.trim()).to.equal('URI:spiffe://example.org/ns/ns1/sa/sa1');
    });

    it('removes its chains when stopped', async () => {
      await inVm(vm, 'systemctl stop istio');
      expect(await inVm(vm, 'iptables -t nat -S')).to.not.contain('ISTIO_');
    });
  });

  it('lets VMs reach each other and the package server, and nothing beyond the bridge', async () => {
    const [a, b] = await Promise.all([theLab().startVm(), theLab().startVm()]);
    if (a === undefined || b === undefined) throw new Error('Two VMs were expected.');
    expect(await inVm(a, `timeout 3 bash -c 'exec 3<>/dev/tcp/${b.address}/22; head -c 4 <&3'`)).to.equal('SSH-');
    expect(await inVm(a, 'ip route show default; ip -4 route show | wc -l')).to.equal('1');

    const escape = await a.run(['timeout', '3', 'bash', '-c', 'exec 3<>/dev/tcp/192.0.2.1/80']);
    expect(escape.code).to.not.equal(0);
    expect(escape.stderr).to.contain('Network is unreachable');

    const published = theLab().publishFile(deb.path, 'istio-sidecar.deb');
    expect(await inVm(a, `curl -sf ${published} | sha256sum | cut -d' ' -f1`)).to.equal(deb.sha256);
    await theLab().packages.publishPackage(deb.path);
    await inVm(b, `echo '${theLab().packages.aptSourceLine}' > /etc/apt/sources.list.d/lab.list && apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y istio-sidecar >/dev/null`);
    expect(await inVm(b, "dpkg-query -W -f='${Version}' istio-sidecar")).to.equal('1.28.0');
    expect(theLab().packages.requests().filter((r) => r.remoteAddress === b.address && r.status === 200).map((r) => r.path)).to.include('/apt/Packages.gz');
    await Promise.all([a.stop(), b.stop()]);
  });

  it('starts sshd late when asked, and stops and restarts it on demand', async () => {
    const started = Date.now();
    const vm = await theLab().startVm({ sshStartDelaySeconds: 2 });
    expect(await hasSshBanner(vm.address, 22, 500)).to.equal(false);
    await vm.waitForSsh();
    expect(Date.now() - started).to.be.at.least(1_800);

    await vm.stopSshd();
    expect(await hasSshBanner(vm.address, 22, 500)).to.equal(false);
    await vm.startSshd();
    expect(await hasSshBanner(vm.address, 22, 2_000)).to.equal(true);
    await vm.stop();
  });

  it('restarts a VM on the same disk: files and host key kept, processes and tmpfs gone, sshd back', async () => {
    const vm = await theLab().startVm();
    const hostKey = await vm.hostPublicKey();
    await inVm(vm, 'echo kept > /var/lib/lab-proof && touch /run/lab-gone');
    const bootId = await inVm(vm, 'cat /proc/sys/kernel/random/boot_id');
    await vm.restart();
    expect(await hasSshBanner(vm.address, 22, 2_000)).to.equal(true);
    expect(await inVm(vm, 'cat /var/lib/lab-proof; test -e /run/lab-gone && echo still-there; true')).to.equal('kept');
    expect(await inVm(vm, 'cat /proc/sys/kernel/random/boot_id')).to.not.equal(bootId);
    expect(await vm.hostPublicKey()).to.equal(hostKey);
    // A failed systemd-user-sessions would leave /run/nologin and refuse vmadmin for good: it is retried.
    expect(await inVm(vm, 'systemctl show -p Restart --value systemd-user-sessions.service')).to.equal('on-failure');
    expect(await inVm(vm, 'test -e /run/nologin && echo nologin; true')).to.equal('');
    await vm.stop();
  });

  it('runs cloud-init from a NoCloud seed when a VM asks for it, and keeps it off otherwise', async () => {
    const userData = ['#cloud-config', 'write_files:', '  - path: /etc/lab-proof', '    content: written by cloud-init', 'runcmd:', '  - [touch, /run/lab-runcmd-ran]', ''].join('\n');
    const [seeded, plain] = await Promise.all([theLab().startVm({ cloudInit: { userData } }), theLab().startVm()]);
    if (seeded === undefined || plain === undefined) throw new Error('Two VMs were expected.');
    const status = await seeded.waitForCloudInit();
    expect(status.code, status.stdout + status.stderr).to.equal(0);
    expect(status.stdout).to.contain('status: done');
    expect(await inVm(seeded, 'cat /etc/lab-proof && echo && test -e /run/lab-runcmd-ran && echo ran')).to.equal('written by cloud-init\nran');
    expect((await plain.run(['cloud-init', 'status'])).stdout).to.contain('disabled');
    await Promise.all([seeded.stop(), plain.stop()]);
  });

  it('starts five VMs at once', async () => {
    const vms = await Promise.all([1, 2, 3, 4, 5].map(() => theLab().startVm()));
    const names = await Promise.all(vms.map((vm) => inVm(vm, 'hostname')));
    expect(new Set(names).size).to.equal(5);
    await Promise.all(vms.map((vm) => vm.stop()));
  });

  it('boots a VM on an address reserved before boot, e.g. for user-data that names it', async () => {
    const address = theLab().reserveAddress();
    const vm = await theLab().startVm({ name: 'reserved', address });
    expect(vm.address).to.equal(address);
    expect(await inVm(vm, 'ip -4 -o addr show dev eth0')).to.contain(` ${address}/26 `);
    await vm.stop();
  });

  it('runs a second lab beside the first, in its own slot and subnet', async () => {
    const second = await startLab();
    try {
      expect(second.subnet).to.not.equal(theLab().subnet);
      expect(second.bridgeAddress).to.not.equal(theLab().bridgeAddress);
      const vm = await second.startVm();
      expect(await inVm(vm, 'hostname')).to.equal('vm1');
    } finally {
      await second.close();
    }
    expect(second.leftovers()).to.deep.equal([]);
  });

  // Last: mocha runs nested suites after the outer suite's own tests, in order.
  describe('closing', () => {
    it('leaves no namespace, link, mount, process or directory behind after close()', async () => {
      await theLab().startVm();
      await theLab().close();
      expect(theLab().leftovers()).to.deep.equal([]);
    });
  });
});
