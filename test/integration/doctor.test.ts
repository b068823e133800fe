import { expect } from 'chai';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { runDoctor } from '../../src/cli/doctor/run-doctor.js';
import type { CheckResult, DoctorReport } from '../../src/cli/doctor/doctor-check.js';
import { startIstioCaSimulator, type IstioCaSimulator } from '../support/istio-ca-sim/istio-ca-simulator.js';
import { rulesForServiceAccount } from '../support/k8s-sim/rbac-rules.js';
import { startKubernetesSimulator, type KubernetesSimulator } from '../support/k8s-sim/kubernetes-simulator.js';
import { CloudModel } from '../support/openstack-sim/cloud-model.js';
import { startOpenStackSimulator, type OpenStackSimulator } from '../support/openstack-sim/openstack-simulator.js';
import { startTackerSimulator, type TackerSimulator } from '../support/tacker-sim/tacker-simulator.js';
import { FakeVmProvider } from '../support/tacker-sim/fake-vm-provider.js';
import { TEST_ROOT_CERT } from '../support/test-credentials.js';
import { PROJECT_ROOT, runVmsi } from '../support/vmsi-cli.js';

const SERVICE_ACCOUNT = { namespace: 'vm-sidecar-injector', name: 'vm-sidecar-injector' };

function byId(report: DoctorReport, id: string): CheckResult {
  const found = report.checks.find((item) => item.id === id);
  if (found === undefined) throw new Error(`no check ${id} in ${report.checks.map((item) => item.id).join(', ')}`);
  return found;
}

/** A receiver that answers every request 204, as an orchestrator's webhook endpoint that is up. */
async function startWebhook(): Promise<{ url: string; server: Server }> {
  const server = createServer((_request, response) => response.writeHead(204).end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`, server };
}

describe('vmsi doctor (against the Keystone, Tacker, Kubernetes and istiod CA simulators)', function () {
  this.timeout(60_000);
  let openstack: OpenStackSimulator;
  let tacker: TackerSimulator;
  let kube: KubernetesSimulator;
  let ca: IstioCaSimulator;
  let webhook: { url: string; server: Server };
  let dir: string;
  let serviceToken: string;

  before(async function () {
    const cloud = new CloudModel();
    openstack = await startOpenStackSimulator({ cloud });
    tacker = await startTackerSimulator({ cloud, vms: new FakeVmProvider(), keystone: { validateToken: (token) => openstack.isTokenValid(token) } });
    openstack.setTackerUrl(tacker.url);
    kube = await startKubernetesSimulator();
    ca = await startIstioCaSimulator({ trustDomain: 'cluster.local', verifyToken: () => undefined });
    kube.addConfigMap('vm-ns', 'istio-ca-root-cert', { 'root-cert.pem': ca.rootCertificatePem });
    kube.addConfigMap('other-ns', 'istio-ca-root-cert', { 'root-cert.pem': TEST_ROOT_CERT });
    kube.addConfigMap('istio-system', 'istio', { mesh: 'defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\ntrustDomain: cluster.local\n' });
    // The service's identity exactly as deploy/rbac.yaml grants it (workloads bound in vm-ns only).
    serviceToken = kube.addUser('system:serviceaccount:vm-sidecar-injector:vm-sidecar-injector', rulesForServiceAccount(readFileSync(path.join(PROJECT_ROOT, 'deploy/rbac.yaml'), 'utf8'), SERVICE_ACCOUNT));
    webhook = await startWebhook();
  });
  after(async function () {
    webhook?.server.close();
    await ca?.stop();
    await kube?.close();
    await tacker?.close();
    await openstack?.close();
  });
  beforeEach(function () {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-doctor-'));
    chmodSync(dir, 0o700);
  });
  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  function secret(name: string, value: string, mode = 0o600): string {
    const file = path.join(dir, name);
    writeFileSync(file, value, { mode });
    chmodSync(file, mode);
    return file;
  }

  function writeConfig(overrides: { kubeToken?: string; openstackSecret?: string; webhookUrl?: string; caAddress?: string } = {}): string {
    const credential = openstack.credentials.applicationCredentialById;
    const config = {
      dataDir: dir,
      http: { auth: { tokens: [{ name: 'admin', file: secret('api-token', 'doctor-test-api-token-0123456789') }] } },
      kubernetes: { kubeconfig: secret('kubeconfig', kube.kubeconfig({ token: overrides.kubeToken ?? serviceToken })) },
      mesh: { credentials: { kind: 'kubernetes' }, istioCa: { address: overrides.caAddress ?? ca.address } },
      registry: { kind: 'kubernetes' },
      notify: { webhook: { url: overrides.webhookUrl ?? webhook.url, secretFile: secret('webhook-secret', 'a-webhook-secret-of-enough-bytes') } },
      openstack: { authUrl: openstack.keystoneUrl, region: 'RegionOne', auth: { method: 'application_credential', id: credential.id, secretFile: secret('openstack-secret', overrides.openstackSecret ?? credential.secret) } },
      tacker: {
        callbackAuth: { kind: 'none' },
        defaults: { ssh: { user: 'vmadmin', privateKeySecret: 'vm-key' }, package: { source: 'mirror', url: 'http://198.51.100.1/istio-sidecar.deb', sha256: 'a'.repeat(64) }, mesh: { gateway: { ip: '198.51.100.1' } } },
        profiles: { 'vnfd-1': { namespace: 'vm-ns' } },
      },
    };
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, stringify(config));
    return file;
  }

  it('passes every check of a complete setup, reading only', async function () {
    const written = kube.requests.filter((request) => request.method !== 'GET' && !request.path.endsWith('/selfsubjectaccessreviews')).length;
    const report = await runDoctor({ file: writeConfig(), env: {} });
    expect(report.checks.map((item) => [item.id, item.status]), JSON.stringify(report.checks.filter((item) => item.status !== 'pass'))).to.deep.equal([
      ['config', 'pass'],
      ['data-dir', 'pass'],
      ['credentials', 'pass'],
      ['mesh-root', 'pass'],
      ['keystone', 'pass'],
      ['tacker', 'pass'],
      ['nova', 'pass'],
      ['kubernetes-rbac', 'pass'],
      ['istio-ca', 'pass'],
      ['webhook', 'pass'],
      ['clock-skew', 'pass'],
    ]);
    expect(report.status).to.equal('pass');
    expect(byId(report, 'kubernetes-rbac').detail).to.match(/^all 11 permissions granted/);
    expect(kube.requests.filter((request) => request.method !== 'GET' && !request.path.endsWith('/selfsubjectaccessreviews'))).to.have.length(written);
    expect(JSON.stringify(report)).not.to.include(openstack.credentials.applicationCredentialById.secret);
  });

  it('lists each missing permission of a workload namespace the RBAC does not bind', async function () {
    const report = await runDoctor({ file: writeConfig(), env: {}, namespaces: ['vm-ns', 'unbound-ns'] });
    const rbac = byId(report, 'kubernetes-rbac');
    expect(rbac.status).to.equal('fail');
    expect(rbac.findings).to.have.length(8);
    expect(rbac.findings).to.include('get configmaps istio-ca-root-cert in unbound-ns (the mesh root certificate)');
    expect(rbac.findings).to.include('create serviceaccounts/token in unbound-ns (bootstrap tokens (TokenRequest))');
    expect(rbac.findings).to.include('patch workloadentries.networking.istio.io in unbound-ns (WorkloadEntries)');
    expect(rbac.findings?.every((finding) => finding.includes('unbound-ns'))).to.equal(true);
    expect(rbac.hint).to.include('deploy/rbac.yaml');
    expect(report.status).to.equal('fail');
  });

  it('fails the mesh root check for a namespace istiod has not written a root certificate into', async function () {
    const report = await runDoctor({ file: writeConfig({ kubeToken: kube.adminToken }), env: {}, namespaces: ['vm-ns', 'not-meshed'] });
    const root = byId(report, 'mesh-root');
    expect(root).to.include({ status: 'fail', code: 'CREDENTIALS_UNAVAILABLE' });
    expect(root.findings).to.have.length(1);
    expect(root.findings?.[0]).to.match(/^not-meshed: /);
  });

  it("fails the CA check when istiod's certificate does not chain to the namespace's root", async function () {
    const report = await runDoctor({ file: writeConfig({ kubeToken: kube.adminToken }), env: {}, namespaces: ['other-ns'] });
    const caCheck = byId(report, 'istio-ca');
    expect(caCheck.status).to.equal('fail');
    expect(caCheck.code).to.equal('MESH_INCONSISTENT');
    expect(caCheck.detail).to.include('does not verify against the mesh root');
  });

  it('fails the CA check when nothing listens at its address', async function () {
    const closed = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const report = await runDoctor({ file: writeConfig({ caAddress: `127.0.0.1:${closed}` }), env: {} });
    expect(byId(report, 'istio-ca')).to.include({ status: 'fail' });
    expect(byId(report, 'istio-ca').detail).to.include('ECONNREFUSED');
  });

  it('fails Keystone with a wrong credential and leaves Tacker and Nova unchecked', async function () {
    const report = await runDoctor({ file: writeConfig({ openstackSecret: 'not-the-right-secret-at-all' }), env: {} });
    expect(byId(report, 'keystone')).to.include({ status: 'fail' });
    expect(byId(report, 'keystone').code).to.be.a('string');
    expect(byId(report, 'tacker')).to.include({ status: 'info' });
    expect(byId(report, 'nova')).to.include({ status: 'info' });
    expect(JSON.stringify(report)).not.to.include('not-the-right-secret-at-all');
  });

  it('fails the Kubernetes check with a token the API server does not know', async function () {
    const report = await runDoctor({ file: writeConfig({ kubeToken: 'unknown-token' }), env: {} });
    expect(byId(report, 'kubernetes-rbac')).to.include({ status: 'fail' });
    expect(byId(report, 'kubernetes-rbac').detail).to.include('401');
  });

  it('fails the webhook check when nothing answers there', async function () {
    const report = await runDoctor({ file: writeConfig({ webhookUrl: 'http://127.0.0.1:9/events' }), env: {} });
    expect(byId(report, 'webhook')).to.include({ status: 'fail' });
  });

  it('warns about a secret file other users can read and fails on a missing one', async function () {
    const file = writeConfig();
    chmodSync(path.join(dir, 'webhook-secret'), 0o644);
    const warned = byId(await runDoctor({ file, env: {} }), 'credentials');
    expect(warned.status).to.equal('warn');
    expect(warned.findings).to.deep.equal([`webhook HMAC secret (${path.join(dir, 'webhook-secret')}) is readable by other users (mode 644); chmod 600 it`]);
    rmSync(path.join(dir, 'openstack-secret'));
    const failed = byId(await runDoctor({ file, env: {} }), 'credentials');
    expect(failed.status).to.equal('fail');
    expect(failed.findings?.some((finding) => finding.includes('OpenStack credential') && finding.includes('ENOENT'))).to.equal(true);
  });

  it('warns at seconds of clock skew and fails at minutes', async function () {
    const file = writeConfig();
    const warned = byId(await runDoctor({ file, env: {}, clock: () => Date.now() - 20_000 }), 'clock-skew');
    expect(warned.status).to.equal('warn');
    expect(warned.detail).to.match(/is ahead of this host by (19|20|21)s/);
    const failed = byId(await runDoctor({ file, env: {}, clock: () => Date.now() + 120_000 }), 'clock-skew');
    expect(failed.status).to.equal('fail');
    expect(failed.findings).to.have.length(3);
  });

  it('reports an invalid config as one failure with every problem, and the CLI exits 2 with --json', async function () {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, stringify({ http: { port: 'eighty' }, jobs: { concurrency: 0 } }));
    const report = await runDoctor({ file, env: {} });
    expect(report.checks).to.have.length(1);
    expect(byId(report, 'config')).to.include({ status: 'fail', code: 'INVALID_CONFIG' });
    expect(byId(report, 'config').findings).to.have.length(2);
    const cli = await runVmsi(['--config', file, 'doctor', '--json'], { env: { VMSI_CONFIG: '' } });
    expect(cli.code).to.equal(2);
    expect((JSON.parse(cli.stdout) as DoctorReport).checks[0]).to.include({ id: 'config', status: 'fail' });
  });

  it('prints a human report and exits 0 when everything passes', async function () {
    const cli = await runVmsi(['--config', writeConfig(), 'doctor'], { env: { VMSI_CONFIG: '' } });
    expect(cli.stderr).to.equal('');
    expect(cli.code).to.equal(0);
    expect(cli.stdout).to.match(/^\[PASS\] Configuration valid: /);
    expect(cli.stdout).to.include('[PASS] Kubernetes RBAC sufficient: all 11 permissions granted');
    expect(cli.stdout).to.include('== Summary: 11 pass, 0 info, 0 warn, 0 fail ==');
  });
});
