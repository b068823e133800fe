import { expect } from 'chai';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import type { JobView } from '../../src/injection/job-view.js';
import { writeFileMeshCredentials } from '../support/data-dir-fixture.js';
import { buildStandInSidecarDeb, type StandInDeb } from '../support/istio-sidecar-package/build-stand-in-sidecar-deb.js';
import { startLab, type Lab, type TestVm } from '../support/lab/lab.js';
import { runChecked } from '../support/lab/run-command.js';
import { appendToRunLog } from '../support/run-log.js';
import { validSpecInput } from '../support/spec-fixtures.js';
import { PROJECT_ROOT } from '../support/vmsi-cli.js';

const PORT = 8080;

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * deploy/systemd/vmsi.service installed as an operator would, in a lab VM with real systemd: the
 * app folder from scripts/build-dist.sh copied to /opt/vmsi, the user from vmsi.sysusers, state
 * in the StateDirectory. Reached from the host over the lab bridge.
 */
describe('systemd unit (deploy/systemd/vmsi.service) in a lab VM', function () {
  this.timeout(10 * 60_000);
  let lab: Lab;
  let host: TestVm;
  let deb: StandInDeb;
  let url: string;
  const journal: string[] = [];

  const out = async (argv: string[]): Promise<string> => (await host.run(argv)).stdout.trim();
  const property = (name: string): Promise<string> => out(['systemctl', 'show', '--property', name, '--value', 'vmsi']);
  const token = (): string => readFileSync(path.join(host.rootDir, 'var/lib/vmsi/api-token'), 'utf8').trim();

  async function api<T>(method: string, route: string, body?: unknown): Promise<{ status: number; body: T }> {
    const response = await fetch(`${url}${route}`, {
      method,
      headers: { authorization: `Bearer ${token()}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as T };
  }

  before(async function () {
    lab = await startLab();
    deb = await buildStandInSidecarDeb(path.join(lab.workDir, 'deb'));
    const app = path.join(lab.workDir, 'app');
    await runChecked('bash', [path.join(PROJECT_ROOT, 'scripts/build-dist.sh'), 'app', app], { timeoutMs: 5 * 60_000 });
    host = await lab.startVm({ name: 'vmsi-host' });
    const root = host.rootDir;
    await runChecked('cp', ['-a', app, path.join(root, 'opt/vmsi')]);
    copyFileSync(path.join(PROJECT_ROOT, 'deploy/systemd/vmsi.service'), path.join(root, 'etc/systemd/system/vmsi.service'));
    copyFileSync(path.join(PROJECT_ROOT, 'deploy/systemd/vmsi.sysusers'), path.join(root, 'usr/lib/sysusers.d/vmsi.conf'));
    mkdirSync(path.join(root, 'etc/vmsi'), { recursive: true });
    writeFileSync(path.join(root, 'etc/vmsi/config.yaml'), stringify({ http: { host: '0.0.0.0', port: PORT }, jobs: { connectDeadline: '2m', commandTimeout: '3m' } }));
    // What an operator puts in the state folder before the first start: mesh credentials and the SSH key.
    const state = path.join(root, 'var/lib/vmsi');
    mkdirSync(path.join(state, 'secrets'), { recursive: true });
    writeFileMeshCredentials(state);
    copyFileSync(lab.clientKey.privateKeyPath, path.join(state, 'secrets', 'lab-key'));
    await host.run(['systemd-sysusers']);
    await host.run(['chown', '-R', 'vmsi:vmsi', '/var/lib/vmsi']);
    await host.run(['chmod', '0600', '/var/lib/vmsi/secrets/lab-key']);
    await host.run(['systemctl', 'daemon-reload']);
    const started = await host.run(['systemctl', 'enable', '--now', 'vmsi']);
    expect(started.code, started.stderr).to.equal(0);
    url = `http://${host.address}:${PORT}`;
    await until('the service to answer', async () => ((await fetch(`${url}/healthz`, { headers: { authorization: `Bearer ${token()}` } })).status === 200 ? true : undefined));
  });
  after(async function () {
    if (host !== undefined) journal.push((await host.run(['journalctl', '--no-pager', '-u', 'vmsi']).catch(() => ({ stdout: '' }))).stdout);
    appendToRunLog('systemd unit: journal of vmsi.service', journal.join('\n'));
    await lab?.close();
  });

  it('runs as the vmsi user with no privileges and a read-only system', async function () {
    const pid = await property('MainPID');
    expect(await out(['ps', '-o', 'user=', '-p', pid])).to.equal('vmsi');
    const procStatus = await out(['cat', `/proc/${pid}/status`]);
    expect(procStatus).to.match(/^NoNewPrivs:\s+1$/m);
    expect(procStatus).to.match(/^CapEff:\s+0+$/m);
    // In the service's own mount namespace even root cannot write outside the state folder.
    const write = await host.run(['nsenter', `--target=${pid}`, '--mount', 'touch', '/opt/vmsi/x', '/etc/x']);
    expect(write.code).to.not.equal(0);
    expect(write.stderr).to.include('Read-only file system');
    expect((await host.run(['nsenter', `--target=${pid}`, '--mount', 'touch', '/var/lib/vmsi/.probe'])).code).to.equal(0);
    const exposure = await out(['systemd-analyze', 'security', '--no-pager', 'vmsi.service']);
    const score = Number(/Overall exposure level for vmsi\.service: ([\d.]+)/.exec(exposure)?.[1]);
    appendToRunLog('systemd-analyze security vmsi.service', exposure);
    expect(score).to.be.lessThan(3);
  });

  it('answers on its port from the network: /healthz, and an authenticated render', async function () {
    expect((await fetch(`${url}/healthz`)).status).to.equal(401);
    const render = await api<{ identity: { spiffeId: string } }>('POST', '/v1/render', validSpecInput());
    expect(render.status, JSON.stringify(render.body)).to.equal(200);
    expect(render.body.identity.spiffeId).to.equal('spiffe://cluster.local/ns/vm-ns/sa/vm-sa');
  });

  it('is restarted by systemd after SIGKILL and resumes the job it was running, to success', async function () {
    const target = await lab.startVm({ name: 'target' });
    const hold = lab.packages.hold();
    const spec = {
      vm: { name: 'target', address: target.address, ssh: { user: 'vmadmin', privateKeyRef: { secret: 'lab-key' }, hostKey: { policy: 'accept-new' } } },
      mesh: { namespace: 'vm-ns', workloadGroup: 'vm-app', serviceAccount: 'vm-sa', labels: { app: 'vm-app' }, gateway: { ip: lab.bridgeAddress } },
      package: { source: 'mirror', url: lab.publishFile(deb.path, 'istio-sidecar.deb'), sha256: deb.sha256 },
      delivery: { method: 'ssh', readyTimeout: '60s' },
    };
    const submitted = await api<JobView>('POST', '/v1/injections', spec);
    expect(submitted.status, JSON.stringify(submitted.body)).to.equal(202);
    // The install on the target now waits on its package download, with the job running.
    await hold.arrived();
    const before = await property('MainPID');
    await host.run(['systemctl', 'kill', '--signal=SIGKILL', 'vmsi']);
    const after = await until('systemd to restart the service', async () => {
      const pid = await property('MainPID');
      return pid !== before && pid !== '0' && (await out(['systemctl', 'is-active', 'vmsi'])) === 'active' ? pid : undefined;
    });
    expect(after).to.not.equal(before);
    expect(await property('NRestarts')).to.equal('1');
    await until('the restarted service to answer', async () => ((await fetch(`${url}/healthz`, { headers: { authorization: `Bearer ${token()}` } })).status === 200 ? true : undefined));
    hold.release();
    const finished = await until(
      'the resumed job to finish',
      async () => {
        const { body } = await api<JobView>('GET', `/v1/injections/${submitted.body.id}`);
        return ['succeeded', 'failed', 'failed_temp'].includes(body.state) ? body : undefined;
      },
      4 * 60_000,
    );
    expect(finished.state, JSON.stringify(finished.steps)).to.equal('succeeded');
    expect((await target.run(['systemctl', 'is-active', 'istio'])).stdout.trim()).to.equal('active');
    expect(await out(['journalctl', '--no-pager', '-u', 'vmsi', '--grep', 'Resuming jobs left running'])).to.include(submitted.body.id);
  });
});
