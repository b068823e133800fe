import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { parseInjectionSpec } from '../../injection-spec.js';
import { buildWorkloadEntry, buildWorkloadGroup } from '../workload-objects.js';
import { KubernetesMeshCredentials } from './kubernetes-mesh-credentials.js';
import { KubernetesMeshRegistry } from './kubernetes-mesh-registry.js';
import { startKubernetesFixture } from '../../../test/support/k8s-sim/kubernetes-fixture.js';
import type { KubernetesSimulator } from '../../../test/support/k8s-sim/kubernetes-simulator.js';
import { rulesForServiceAccount } from '../../../test/support/k8s-sim/rbac-rules.js';
import { createTestLogger } from '../../../test/support/run-log.js';
import { TEST_ROOT_CERT } from '../../../test/support/test-credentials.js';
import { validSpecInput } from '../../../test/support/spec-fixtures.js';

const RBAC_FILE = new URL('../../../deploy/rbac.yaml', import.meta.url);

describe('deploy/rbac.yaml', function () {
  let sim: KubernetesSimulator;
  let fixture: Awaited<ReturnType<typeof startKubernetesFixture>>;
  let token: string;

  beforeEach(async function () {
    fixture = await startKubernetesFixture();
    sim = fixture.sim;
    const rules = rulesForServiceAccount(await readFile(RBAC_FILE, 'utf8'), { namespace: 'vm-sidecar-injector', name: 'vm-sidecar-injector' });
    token = sim.addUser('system:serviceaccount:vm-sidecar-injector:vm-sidecar-injector', rules);
    sim.addServiceAccount('vm-ns', 'vm-sa');
    sim.addConfigMap('vm-ns', 'istio-ca-root-cert', { 'root-cert.pem': TEST_ROOT_CERT });
    sim.addConfigMap('istio-system', 'istio', { mesh: 'trustDomain: cluster.local\n' });
  });

  afterEach(async function () {
    await sim.close();
  });

  it('allows every operation the adapters perform in the bound namespaces', async function () {
    const kubeConfig = fixture.kubeConfigFor(token);
    const credentials = new KubernetesMeshCredentials({ kubeConfig, logger: createTestLogger() });
    const registry = new KubernetesMeshRegistry({ kubeConfig, logger: createTestLogger() });
    const spec = parseInjectionSpec(validSpecInput());
    const entry = buildWorkloadEntry(spec);

    expect(await credentials.controlPlaneSettings('istio-system', undefined)).to.deep.equal({ meshConfig: { trustDomain: 'cluster.local' } });
    expect(await credentials.rootCertificate('vm-ns')).to.equal(TEST_ROOT_CERT);
    await credentials.serviceAccountToken({ namespace: 'vm-ns', serviceAccount: 'vm-sa', audience: 'istio-ca', expirationSeconds: 3600 });
    expect(await registry.ensureWorkloadGroup(buildWorkloadGroup(spec))).to.equal('created');
    expect(await registry.applyWorkloadEntry(entry)).to.equal('created');
    expect(await registry.applyWorkloadEntry({ ...entry, spec: { ...entry.spec, network: 'net-1' } })).to.equal('updated');
    expect(await registry.getWorkloadEntry('vm-ns', entry.metadata.name)).to.not.equal(undefined);
    expect(await registry.deleteWorkloadEntry('vm-ns', entry.metadata.name)).to.equal('deleted');
    expect(sim.requests.filter((request) => request.status === 403)).to.deep.equal([]);
  });

  it('grants nothing that could replace or delete a WorkloadGroup, nor access to other namespaces', async function () {
    const registry = new KubernetesMeshRegistry({ kubeConfig: fixture.kubeConfigFor(token), logger: createTestLogger() });
    await registry.ensureWorkloadGroup(buildWorkloadGroup(parseInjectionSpec(validSpecInput())));
    const path = `${sim.url}/apis/networking.istio.io/v1/namespaces/vm-ns/workloadgroups/vm-app`;
    const headers = { Authorization: `Bearer ${token}` };

    expect((await fetch(path, { method: 'DELETE', headers })).status).to.equal(403);
    expect((await fetch(path, { method: 'PUT', headers: { ...headers, 'Content-Type': 'application/json' }, body: '{}' })).status).to.equal(403);
    expect((await fetch(`${sim.url}/api/v1/namespaces/other-ns/configmaps/istio-ca-root-cert`, { headers })).status).to.equal(403);
  });
});
