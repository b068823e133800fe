import { expect } from 'chai';
import { checkTokenIdentity } from '../token-identity.js';
import { KubernetesMeshCredentials } from './kubernetes-mesh-credentials.js';
import { startKubernetesFixture } from '../../../test/support/k8s-sim/kubernetes-fixture.js';
import type { KubernetesSimulator } from '../../../test/support/k8s-sim/kubernetes-simulator.js';
import { createTestLogger, readRunLog } from '../../../test/support/run-log.js';
import { TEST_ROOT_CERT, TEST_TOKEN_MARKER } from '../../../test/support/test-credentials.js';
import { rejection } from '../../../test/support/app-error-assertions.js';

const tokenRequest = { namespace: 'vm-ns', serviceAccount: 'vm-sa', audience: 'istio-ca', expirationSeconds: 7200 };

describe('KubernetesMeshCredentials', function () {
  let sim: KubernetesSimulator;
  let credentials: KubernetesMeshCredentials;
  let fixture: Awaited<ReturnType<typeof startKubernetesFixture>>;

  beforeEach(async function () {
    fixture = await startKubernetesFixture();
    sim = fixture.sim;
    sim.addServiceAccount('vm-ns', 'vm-sa');
    sim.addConfigMap('vm-ns', 'istio-ca-root-cert', { 'root-cert.pem': TEST_ROOT_CERT });
    credentials = new KubernetesMeshCredentials({ kubeConfig: fixture.kubeConfigFor(), logger: createTestLogger() });
  });

  afterEach(async function () {
    await sim.close();
  });

  it('requests a token for the service account with audience istio-ca and the given lifetime', async function () {
    const before = Math.floor(Date.now() / 1000);
    const token = await credentials.serviceAccountToken(tokenRequest);

    expect(sim.tokenRequests).to.deep.equal([{ namespace: 'vm-ns', serviceAccount: 'vm-sa', audiences: ['istio-ca'], expirationSeconds: 7200 }]);
    const claims = sim.verifyToken(token);
    expect(claims).to.include({ sub: 'system:serviceaccount:vm-ns:vm-sa' });
    expect(claims?.aud).to.deep.equal(['istio-ca']);
    expect(claims?.exp).to.be.within(before + 7200, before + 7202);
    expect(() => checkTokenIdentity(token, { namespace: 'vm-ns', serviceAccount: 'vm-sa', audience: 'istio-ca', minimumRemainingMs: 3_600_000, nowMs: Date.now() })).not.to.throw();
  });

  it('never writes the token into the logs, only its digest', async function () {
    const token = await credentials.serviceAccountToken(tokenRequest);
    expect(token).to.include(TEST_TOKEN_MARKER);
    const log = readRunLog();
    expect(log).not.to.include(token);
    expect(log).not.to.include(TEST_TOKEN_MARKER);
    expect(log).to.include('Minted a service account token.');
  });

  it('reports a missing service account as a non-retryable credentials problem', async function () {
    const error = await rejection(credentials.serviceAccountToken({ ...tokenRequest, serviceAccount: 'nobody' }));
    expect(error.code).to.equal('CREDENTIALS_UNAVAILABLE');
    expect(error.retryable).to.equal(false);
    expect(error.message).to.include('vm-ns/nobody');
  });

  it('refuses a token request without RBAC permission, non-retryable, with the API reason', async function () {
    const token = sim.addUser('system:serviceaccount:vmsi:vmsi', [{ verbs: ['get'], resources: ['configmaps'] }]);
    const limited = new KubernetesMeshCredentials({ kubeConfig: fixture.kubeConfigFor(token), logger: createTestLogger() });
    const error = await rejection(limited.serviceAccountToken(tokenRequest));
    expect(error.code).to.equal('FORBIDDEN');
    expect(error.retryable).to.equal(false);
    expect(error.details).to.include({ status: 403, reason: 'Forbidden' });
    expect(error.message).to.include('cannot create resource "serviceaccounts/token"');
  });

  it('reads the root certificate from istio-ca-root-cert in the workload namespace', async function () {
    expect(await credentials.rootCertificate('vm-ns')).to.equal(TEST_ROOT_CERT);
    const error = await rejection(credentials.rootCertificate('other-ns'));
    expect(error.code).to.equal('CREDENTIALS_UNAVAILABLE');
    expect(error.retryable).to.equal(false);
  });

  it('marks an unavailable API server as retryable', async function () {
    sim.failNext({ method: 'GET', path: /istio-ca-root-cert$/, status: 503 });
    const error = await rejection(credentials.rootCertificate('vm-ns'));
    expect(error).to.include({ code: 'SERVICE_UNREACHABLE', retryable: true });
    expect(await credentials.rootCertificate('vm-ns')).to.equal(TEST_ROOT_CERT);
  });

  it('marks a dropped connection as retryable', async function () {
    sim.failNext({ path: /istio-ca-root-cert$/, status: 'reset' });
    const error = await rejection(credentials.rootCertificate('vm-ns'));
    expect(error).to.include({ code: 'SERVICE_UNREACHABLE', retryable: true });
  });

  it('gives up on a silent API server after the request timeout, retryable', async function () {
    const impatient = new KubernetesMeshCredentials({ kubeConfig: fixture.kubeConfigFor(), logger: createTestLogger(), requestTimeoutMs: 200 });
    sim.failNext({ path: /istio-ca-root-cert$/, status: 'hang' });
    const started = Date.now();
    const error = await rejection(impatient.rootCertificate('vm-ns'));
    expect(error).to.include({ code: 'SERVICE_UNREACHABLE', retryable: true });
    expect(Date.now() - started).to.be.below(5000);
  });

  it('parses the mesh config of the revision and the cluster ID of its injector', async function () {
    sim.addConfigMap('istio-system', 'istio-canary', { mesh: 'trustDomain: example.org\ndefaultConfig:\n  discoveryAddress: istiod-canary.istio-system.svc:15012\n' });
    sim.addConfigMap('istio-system', 'istio-sidecar-injector-canary', { values: JSON.stringify({ global: { multiCluster: { clusterName: 'cluster-east' } } }), config: '{}' });

    expect(await credentials.controlPlaneSettings('istio-system', 'canary')).to.deep.equal({
      meshConfig: { trustDomain: 'example.org', defaultConfig: { discoveryAddress: 'istiod-canary.istio-system.svc:15012' } },
      clusterId: 'cluster-east',
    });
  });

  it('reads the default revision from ConfigMap istio and leaves the cluster ID out when the injector has none', async function () {
    sim.addConfigMap('istio-system', 'istio', { mesh: 'defaultConfig:\n  proxyMetadata: {}\n' });
    sim.addConfigMap('istio-system', 'istio-sidecar-injector', { values: JSON.stringify({ global: { multiCluster: { clusterName: '' } } }) });
    expect(await credentials.controlPlaneSettings('istio-system', 'default')).to.deep.equal({ meshConfig: { defaultConfig: { proxyMetadata: {} } } });
    expect(sim.requests.map((request) => request.path)).to.include('/api/v1/namespaces/istio-system/configmaps/istio');
  });

  it('says when the Istio ConfigMap does not exist', async function () {
    const error = await rejection(credentials.controlPlaneSettings('istio-system', 'stable'));
    expect(error.code).to.equal('CREDENTIALS_UNAVAILABLE');
    expect(error.message).to.include('istio-stable');
  });
});
