import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { InjectionSpecInput } from '../../src/injection-spec.js';
import type { JobView } from '../../src/injection/job-view.js';
import { hasUriSan } from '../../src/injection/workload-certificate.js';
import { buildStandInSidecarDeb } from '../support/istio-sidecar-package/build-stand-in-sidecar-deb.js';
import { startIstioCaSimulator, type IstioCaSimulator } from '../support/istio-ca-sim/istio-ca-simulator.js';
import { startKubernetesSimulator, type KubernetesSimulator } from '../support/k8s-sim/kubernetes-simulator.js';
import { startLab, type Lab, type TestVm } from '../support/lab/lab.js';
import { ServiceProcess } from '../support/service-process.js';
import { kubernetesMeshConfig, publishIstiodConfig } from '../support/integration-fixtures.js';

const SPIFFE_ID = 'spiffe://cluster.local/ns/vm-ns/sa/vm-sa';

function publicKeyOfCsr(csrPem: string, vmKeyPublicPem: string): boolean {
  // The CSR's public key is the VM key's (the script's own pair check covers the certificate).
  const body = csrPem.replace(/-----[A-Z ]+-----|\s/g, '');
  const spki = vmKeyPublicPem.replace(/-----[A-Z ]+-----|\s/g, '');
  return Buffer.from(body, 'base64').includes(Buffer.from(spki, 'base64'));
}

/**
 * Issue 5, `certificates: istio-ca`: the key and CSR are made on a real VM, the service has the CSR
 * signed by the (simulated) istiod CA with a TokenRequest token, and the agent runs on the
 * file-mounted chain. The key never crosses the wire and the token never reaches the VM.
 */
describe('injection with certificates from the Istio CA', function () {
  this.timeout(300_000);
  let lab: Lab;
  let kube: KubernetesSimulator;
  let ca: IstioCaSimulator;
  let service: ServiceProcess;
  let vm: TestVm;
  let spec: InjectionSpecInput;

  before(async function () {
    lab = await startLab();
    kube = await startKubernetesSimulator();
    ca = await startIstioCaSimulator({
      trustDomain: 'cluster.local',
      // istiod's TokenReview: the cluster vouches for the token and names its service account.
      verifyToken: (token) => {
        const claims = kube.verifyToken(token);
        const subject = typeof claims?.sub === 'string' ? claims.sub.split(':') : [];
        const audiences = claims?.aud;
        if (subject.length !== 4 || subject[3] === 'revoked-sa' || !(Array.isArray(audiences) ? audiences : [audiences]).includes('istio-ca')) return undefined;
        return { namespace: subject[2] as string, serviceAccount: subject[3] as string };
      },
    });
    publishIstiodConfig(kube, 'vm-ns', ca.rootCertificatePem);
    kube.addServiceAccount('vm-ns', 'vm-sa');
    service = new ServiceProcess({
      privateKeyPath: lab.clientKey.privateKeyPath,
      extraConfig: (dataDir) => kubernetesMeshConfig(dataDir, { tokenLifetime: '1h', istioCa: { address: ca.address, certificateValidity: '48h' } }),
    });
    service.writeSecretFile('kubeconfig', kube.kubeconfig());
    await service.start();
    const deb = await buildStandInSidecarDeb(path.join(lab.workDir, 'deb'));
    vm = await lab.startVm();
    spec = {
      vm: { name: 'ca-vm', address: vm.address, ssh: { user: 'vmadmin', privateKeyRef: { secret: 'lab-key' } } },
      mesh: { namespace: 'vm-ns', workloadGroup: 'vm-app', serviceAccount: 'vm-sa', labels: { app: 'vm-app' }, gateway: { ip: lab.bridgeAddress }, certificates: 'istio-ca' },
      package: { source: 'mirror', url: lab.publishFile(deb.path, 'istio-sidecar.deb'), sha256: deb.sha256 },
    };
  });
  after(async function () {
    await service?.remove();
    await vm?.stop();
    await ca?.stop();
    await kube?.close();
    await lab?.close();
  });

  async function inject(): Promise<JobView> {
    const { status, body } = await service.request<JobView>('POST', '/v1/injections', spec);
    expect(status, JSON.stringify(body)).to.equal(202);
    return service.waitForJob(body.id);
  }

  async function vmFile(file: string): Promise<string> {
    return (await vm.run(['cat', file])).stdout;
  }

  it('makes the key on the VM, sends only the CSR, and runs the agent on the signed chain', async function () {
    const job = await inject();
    expect(job.state, JSON.stringify(job.lastError)).to.equal('succeeded');

    expect(ca.requests).to.have.length(1);
    const [request] = ca.requests;
    expect(request?.outcome).to.equal('signed');
    expect(request?.validityDuration).to.equal(48 * 3600);
    expect(request?.wireBytes.toString('latin1')).not.to.match(/PRIVATE KEY/);
    const vmPublicKey = (await vm.run(['openssl', 'pkey', '-in', '/etc/certs/key.pem', '-pubout'])).stdout;
    expect(publicKeyOfCsr(request?.csr ?? '', vmPublicKey), 'the CSR carries the VM key').to.equal(true);

    // The token was minted for istio-ca and used by the service only: the VM holds none.
    expect(kube.tokenRequests.at(-1)).to.deep.include({ namespace: 'vm-ns', serviceAccount: 'vm-sa', audiences: ['istio-ca'] });
    expect((await vm.run(['test', '-e', '/var/run/secrets/tokens/istio-token'])).code).to.equal(1);

    const leaf = new X509Certificate(await vmFile('/etc/certs/cert-chain.pem'));
    expect(hasUriSan(leaf.subjectAltName, SPIFFE_ID), leaf.subjectAltName).to.equal(true);
    expect(leaf.checkIssued(new X509Certificate(ca.rootCertificatePem))).to.equal(true);
    expect((await vm.run(['stat', '-c', '%U %a', '/etc/certs/key.pem'])).stdout.trim()).to.equal('istio-proxy 600');
    expect((await vm.run(['stat', '-c', '%U %a', '/etc/certs/cert-chain.pem'])).stdout.trim()).to.equal('istio-proxy 644');
    // No second copy of the key stays behind.
    expect((await vm.run(['test', '-e', '/var/lib/vm-sidecar-injector/pending'])).code).to.equal(1);
    expect(await vmFile('/var/lib/istio/envoy/cluster.env')).to.include('FILE_MOUNTED_CERTS=true');

    const deliver = job.steps.find((step) => step.name === 'deliver')?.output as { certificate?: { spiffeId: string; serialNumber: string } };
    expect(deliver.certificate?.spiffeId).to.equal(SPIFFE_ID);
    expect(deliver.certificate?.serialNumber).to.equal(leaf.serialNumber);
    expect(job.steps.find((step) => step.name === 'verify')?.output).to.deep.include({ certificate: 'matches', expectedSpiffeId: SPIFFE_ID });
    expect(kube.objects('workloadentries', 'vm-ns')).to.have.length(1);
  });

  it('keeps the token and the key out of the job record, the job store and the service log', async function () {
    const [job] = (await service.request<{ items: JobView[] }>('GET', '/v1/injections?limit=1')).body.items;
    const { body: detailed } = await service.request<JobView>('GET', `/v1/injections/${job?.id ?? ''}`);
    const tokens = ca.requests.map((request) => (request.authorization ?? '').replace(/^Bearer /, '')).filter((token) => token !== '');
    expect(tokens).to.have.length.greaterThan(0);
    const keyBody = (await vmFile('/etc/certs/key.pem')).split('\n')[1] ?? 'missing';
    const jobStore = readdirSync(service.dataDir)
      .filter((name) => name.startsWith('jobs.sqlite'))
      .map((name) => readFileSync(path.join(service.dataDir, name)).toString('latin1'))
      .join('\n');
    for (const text of [JSON.stringify(detailed), jobStore, service.printed]) {
      expect(text).not.to.include('PRIVATE KEY');
      expect(text).not.to.include(keyBody);
      for (const token of tokens) expect(text).not.to.include(token);
    }
  });

  it('re-onboarding issues a new certificate for a new key and restarts the agent, without reinstalling', async function () {
    const [first] = (await service.request<{ items: JobView[] }>('GET', '/v1/injections?limit=1')).body.items;
    const before = new X509Certificate(await vmFile('/etc/certs/cert-chain.pem'));
    const { body: submitted } = await service.request<JobView>('POST', `/v1/injections/${first?.id ?? ''}/reonboard`);
    const job = await service.waitForJob(submitted.id);
    expect(job.state, JSON.stringify(job.lastError)).to.equal('succeeded');
    const after = new X509Certificate(await vmFile('/etc/certs/cert-chain.pem'));
    expect(after.serialNumber).to.not.equal(before.serialNumber);
    expect(after.publicKey.export({ format: 'der', type: 'spki' }).equals(before.publicKey.export({ format: 'der', type: 'spki' }))).to.equal(false);
    expect(ca.requests).to.have.length(2);
    const { body: detailed } = await service.request<JobView>('GET', `/v1/injections/${job.id}`);
    expect(detailed.log?.join('\n') ?? '').to.match(/restarted istio/);
  });

  it('fails with the CA\'s reason, before anything is installed, when istiod rejects the token', async function () {
    kube.addServiceAccount('vm-ns', 'revoked-sa');
    const other = await lab.startVm();
    const revoked: InjectionSpecInput = { ...spec, vm: { ...spec.vm, name: 'ca-vm-revoked', address: other.address }, mesh: { ...spec.mesh, serviceAccount: 'revoked-sa' } };
    const { body } = await service.request<JobView>('POST', '/v1/injections', revoked);
    const job = await service.waitForJob(body.id);
    expect(job.state).to.equal('failed');
    expect(job.lastError?.code).to.equal('CREDENTIALS_UNAVAILABLE');
    expect(job.steps.find((step) => step.name === 'deliver')?.state).to.equal('failed');
    expect((await other.run(['test', '-e', '/etc/istio'])).code).to.equal(1);
    await other.stop();
  });
});
