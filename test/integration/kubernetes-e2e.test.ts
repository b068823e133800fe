import { expect } from 'chai';
import path from 'node:path';
import type { InjectionSpecInput } from '../../src/injection-spec.js';
import type { JobView } from '../../src/injection/job-view.js';
import { buildStandInSidecarDeb } from '../support/istio-sidecar-package/build-stand-in-sidecar-deb.js';
import { startKubernetesSimulator, type KubernetesSimulator } from '../support/k8s-sim/kubernetes-simulator.js';
import { startLab, type Lab, type TestVm } from '../support/lab/lab.js';
import { ServiceProcess } from '../support/service-process.js';
import { TEST_ROOT_CERT } from '../support/test-credentials.js';

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
    service = new ServiceProcess({
      privateKeyPath: lab.clientKey.privateKeyPath,
      extraConfig: (dataDir) => ({
        kubernetes: { kubeconfig: path.join(dataDir, 'kubeconfig') },
        mesh: { credentials: { kind: 'kubernetes' }, tokenLifetime: '2h' },
        registry: { kind: 'kubernetes' },
      }),
    });
    service.writeSecretFile('kubeconfig', kube.kubeconfig());
    await service.start();
    const deb = await buildStandInSidecarDeb(path.join(lab.workDir, 'deb'));
    vm = await lab.startVm();
    spec = {
      vm: { name: 'kube-vm', address: vm.address, ssh: { user: 'vmadmin', privateKeyRef: { secret: 'lab-key' } } },
      mesh: { namespace: 'vm-ns', workloadGroup: 'vm-app', serviceAccount: 'vm-sa', labels: { app: 'vm-app' }, gateway: { ip: lab.bridgeAddress } },
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
});
