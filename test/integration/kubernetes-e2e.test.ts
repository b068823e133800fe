import { expect } from 'chai';
import path from 'node:path';
import type { InjectionSpecInput } from '../../src/injection-spec.js';
import type { JobView } from '../../src/injection/job-view.js';
import { buildStandInSidecarDeb } from '../support/istio-sidecar-package/build-stand-in-sidecar-deb.js';
import { startKubernetesSimulator, type KubernetesSimulator } from '../support/k8s-sim/kubernetes-simulator.js';
import { startLab, type Lab, type TestVm } from '../support/lab/lab.js';
import { ServiceProcess } from '../support/service-process.js';
import { TEST_ROOT_CERT } from '../support/test-credentials.js';
import { kubernetesMeshConfig } from '../support/integration-fixtures.js';

/**
 * Issue 5 end to end: the service takes the root certificate, the mesh config and a TokenRequest
 * token from the (simulated) cluster, installs a real VM with them, and registers it there.
 */
describe('injection against a Kubernetes cluster', function () {
  this.timeout(300_000);
  let lab: Lab;
  let kube: KubernetesSimulator;
  let service: ServiceProcess;
  let vm: TestVm;
  let spec: InjectionSpecInput;

  before(async function () {
    lab = await startLab();
    kube = await startKubernetesSimulator();
    kube.addConfigMap('vm-ns', 'istio-ca-root-cert', { 'root-cert.pem': TEST_ROOT_CERT });
    kube.addConfigMap('istio-system', 'istio', { mesh: 'defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\ntrustDomain: cluster.local\n' });
    kube.addServiceAccount('vm-ns', 'vm-sa');
    // The east-west gateway as a cloud load balancer publishes it; the VM reaches "istiod" through it.
    kube.addService('istio-system', 'istio-eastwestgateway', { type: 'LoadBalancer', ports: [{ name: 'tcp-istiod', port: 15012 }] }, { loadBalancer: { ingress: [{ ip: lab.bridgeAddress }] } });
    service = new ServiceProcess({
      privateKeyPath: lab.clientKey.privateKeyPath,
      extraConfig: (dataDir) => kubernetesMeshConfig(dataDir, { tokenLifetime: '2h' }),
    });
    service.writeSecretFile('kubeconfig', kube.kubeconfig());
    await service.start();
    const deb = await buildStandInSidecarDeb(path.join(lab.workDir, 'deb'));
    vm = await lab.startVm();
    spec = {
      vm: { name: 'kube-vm', address: vm.address, ssh: { user: 'vmadmin', privateKeyRef: { secret: 'lab-key' } } },
      mesh: { namespace: 'vm-ns', workloadGroup: 'vm-app', serviceAccount: 'vm-sa', labels: { app: 'vm-app' }, gateway: { service: 'istio-eastwestgateway.istio-system' } },
      package: { source: 'mirror', url: lab.publishFile(deb.path, 'istio-sidecar.deb'), sha256: deb.sha256 },
    };
  });
  after(async function () {
    await service?.remove();
    await vm?.stop();
    await kube?.close();
    await lab?.close();
  });

  async function run(route: string, body: unknown): Promise<JobView> {
    const { status, body: job } = await service.request<JobView>('POST', route, body);
    expect(status, JSON.stringify(job)).to.equal(202);
    return service.waitForJob(job.id);
  }

  it('injects with a TokenRequest token for istio-ca and registers the WorkloadGroup once and the entry', async function () {
    const job = await run('/v1/injections', spec);
    expect(job.state, JSON.stringify(job.lastError)).to.equal('succeeded');
    expect(kube.tokenRequests.length).to.be.greaterThan(0);
    for (const request of kube.tokenRequests) expect(request).to.deep.include({ namespace: 'vm-ns', serviceAccount: 'vm-sa', audiences: ['istio-ca'], expirationSeconds: 7200 });
    const token = (await vm.run(['cat', '/var/run/secrets/tokens/istio-token'])).stdout.trim();
    expect(kube.verifyToken(token)).to.include({ sub: 'system:serviceaccount:vm-ns:vm-sa' });
    expect((await vm.run(['stat', '-c', '%U %a', '/var/run/secrets/tokens/istio-token'])).stdout.trim()).to.equal('istio-proxy 400');
    expect(kube.objects('workloadgroups', 'vm-ns').map((group) => group.metadata.name)).to.deep.equal(['vm-app']);
    const entries = kube.objects('workloadentries', 'vm-ns');
    expect(entries).to.have.length(1);
    expect((entries[0]?.spec as { address?: string }).address).to.equal(vm.address);
    const hosts = (await vm.run(['cat', '/etc/hosts'])).stdout;
    expect(hosts).to.include(`${lab.bridgeAddress} istiod.istio-system.svc # vm-sidecar-injector`);
    // The agent's certificate carries the identity the token granted (lesson 7).
    expect(job.steps.find((step) => step.name === 'verify')?.output).to.deep.include({ certificate: 'matches', expectedSpiffeId: 'spiffe://cluster.local/ns/vm-ns/sa/vm-sa' });
  });

  it('updates, never duplicates, on a second injection, and removal deletes only that entry', async function () {
    const groupVersion = kube.object('workloadgroups', 'vm-ns', 'vm-app')?.metadata.resourceVersion;
    expect((await run('/v1/injections', spec)).state).to.equal('succeeded');
    expect(kube.objects('workloadentries', 'vm-ns')).to.have.length(1);
    expect(kube.object('workloadgroups', 'vm-ns', 'vm-app')?.metadata.resourceVersion).to.equal(groupVersion);
    expect((await run('/v1/removals', spec)).state).to.equal('succeeded');
    expect(kube.objects('workloadentries', 'vm-ns')).to.have.length(0);
    expect(kube.objects('workloadgroups', 'vm-ns')).to.have.length(1);
  });

  it('retries through 409 and 503 from the API server and registers once; a 403 fails the job with the API reason', async function () {
    kube.failNext({ method: 'PATCH', path: /workloadentries/, status: 409, times: 1 });
    kube.failNext({ method: 'PATCH', path: /workloadentries/, status: 503, times: 1 });
    const job = await run('/v1/injections', spec);
    expect(job.state, JSON.stringify(job.lastError)).to.equal('succeeded');
    expect(job.steps.find((step) => step.name === 'register')?.attempts).to.equal(3);
    expect(kube.objects('workloadentries', 'vm-ns')).to.have.length(1);

    kube.failNext({ method: 'PATCH', path: /workloadentries/, status: 403, times: 1, message: 'workloadentries.networking.istio.io is forbidden: User "vmsi" cannot patch resource' });
    const refused = await run('/v1/injections', spec);
    expect(refused.state).to.equal('failed');
    expect(refused.lastError?.code).to.equal('FORBIDDEN');
    expect(refused.lastError?.message).to.include('forbidden');
    expect(refused.steps.find((step) => step.name === 'register')?.attempts).to.equal(1);
    expect((await run('/v1/removals', spec)).state).to.equal('succeeded');
  });

  it('with auto-registration creates no entry itself, waits for istiod to register the VM, and reports it', async function () {
    const auto: InjectionSpecInput = { ...spec, mesh: { ...spec.mesh, autoRegister: true } };
    const requestsBefore = kube.requests.length;
    const { body: submitted } = await service.request<JobView>('POST', '/v1/injections', auto);
    const waiting = await service.waitForJob(submitted.id, (job) => job.steps.find((step) => step.name === 'register')?.lastError?.code === 'REGISTRY_FAILED');
    expect(waiting.state).to.be.oneOf(['retry_wait', 'running']);
    // What istiod does when the proxy connects with ISTIO_META_AUTO_REGISTER_GROUP.
    const name = `vm-app-${vm.address}`;
    const created = await fetch(`${kube.url}/apis/networking.istio.io/v1/namespaces/vm-ns/workloadentries`, {
      method: 'POST',
      headers: { authorization: `Bearer ${kube.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name, namespace: 'vm-ns' }, spec: { address: vm.address, serviceAccount: 'vm-sa', labels: { app: 'vm-app' } } }),
    });
    expect(created.status).to.equal(201);
    const job = await service.waitForJob(submitted.id);
    expect(job.state, JSON.stringify(job.lastError)).to.equal('succeeded');
    expect(job.steps.find((step) => step.name === 'register')?.output).to.deep.include({ present: true, entry: 'left to istiod (auto-registration)' });
    // The only write to WorkloadEntries during the job is the one istiod (this test) made.
    const writes = kube.requests.slice(requestsBefore).filter((request) => /workloadentries/.test(request.path) && request.method !== 'GET');
    expect(writes.map((request) => request.method)).to.deep.equal(['POST']);
  });
});
