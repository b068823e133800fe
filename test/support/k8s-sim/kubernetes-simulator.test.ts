import { expect } from 'chai';
import { TEST_TOKEN_MARKER } from '../test-credentials.js';
import { startKubernetesSimulator, type KubernetesSimulator } from './kubernetes-simulator.js';

const WE = '/apis/networking.istio.io/v1/namespaces/vm-ns/workloadentries';

function workloadEntry(address: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: 'vm-1', namespace: 'vm-ns' }, spec: { address, serviceAccount: 'vm-sa', ...extra } };
}

describe('Kubernetes simulator', function () {
  let sim: KubernetesSimulator;

  async function call(method: string, path: string, options: { body?: unknown; token?: string; contentType?: string } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
    const headers: Record<string, string> = { Authorization: `Bearer ${options.token ?? sim.adminToken}` };
    if (options.body !== undefined) headers['Content-Type'] = options.contentType ?? 'application/json';
    const response = await fetch(`${sim.url}${path}`, { method, headers, ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  const apply = (body: unknown, manager: string, force = false): ReturnType<typeof call> =>
    call('PATCH', `${WE}/vm-1?fieldManager=${manager}${force ? '&force=true' : ''}`, { body, contentType: 'application/apply-patch+yaml' });

  beforeEach(async function () {
    sim = await startKubernetesSimulator();
  });

  afterEach(async function () {
    await sim.close();
  });

  it('serves discovery for the core and networking.istio.io/v1 resources', async function () {
    const resources = await call('GET', '/apis/networking.istio.io/v1');
    expect((resources.body.resources as { name: string }[]).map((resource) => resource.name)).to.include.members(['workloadentries', 'workloadgroups']);
    expect((await call('GET', '/api')).body).to.include({ kind: 'APIVersions' });
    expect(((await call('GET', '/apis')).body.groups as { name: string }[])[0]?.name).to.equal('networking.istio.io');
  });

  it('answers 401 Unauthorized without a known bearer token', async function () {
    const answer = await call('GET', '/api', { token: 'nope' });
    expect(answer.status).to.equal(401);
    expect(answer.body).to.include({ kind: 'Status', reason: 'Unauthorized', code: 401 });
  });

  it('mints RS256 service account tokens with the requested audience and lifetime', async function () {
    sim.addServiceAccount('vm-ns', 'vm-sa');
    const now = Math.floor(Date.now() / 1000);
    const answer = await call('POST', '/api/v1/namespaces/vm-ns/serviceaccounts/vm-sa/token', { body: { spec: { audiences: ['istio-ca'], expirationSeconds: 3600 } } });

    expect(answer.status).to.equal(201);
    const token = (answer.body.status as { token: string }).token;
    expect(token).to.include(TEST_TOKEN_MARKER);
    const claims = sim.verifyToken(token);
    expect(claims).to.include({ sub: 'system:serviceaccount:vm-ns:vm-sa' });
    expect(claims?.aud).to.deep.equal(['istio-ca']);
    expect(claims?.exp).to.be.within(now + 3600, now + 3602);
    expect(sim.verifyToken(`${token.slice(0, -4)}AAAA`)).to.equal(undefined);
  });

  it('refuses tokens for unknown service accounts and lifetimes under ten minutes', async function () {
    sim.addServiceAccount('vm-ns', 'vm-sa');
    expect((await call('POST', '/api/v1/namespaces/vm-ns/serviceaccounts/other/token', { body: { spec: {} } })).body).to.include({ code: 404, reason: 'NotFound' });
    const short = await call('POST', '/api/v1/namespaces/vm-ns/serviceaccounts/vm-sa/token', { body: { spec: { expirationSeconds: 60 } } });
    expect(short.body).to.include({ code: 422, reason: 'Invalid' });
    expect(sim.tokenRequests).to.be.empty;
  });

  it('creates once, answers 409 AlreadyExists, and refuses stale or unversioned updates', async function () {
    expect((await call('POST', WE, { body: workloadEntry('198.51.100.10') })).status).to.equal(201);
    expect((await call('POST', WE, { body: workloadEntry('198.51.100.10') })).body).to.include({ code: 409, reason: 'AlreadyExists' });

    const current = (await call('GET', `${WE}/vm-1`)).body as { metadata: { resourceVersion: string } };
    const unversioned = await call('PUT', `${WE}/vm-1`, { body: workloadEntry('198.51.100.11') });
    expect(unversioned.body).to.include({ code: 422, reason: 'Invalid' });
    const updated = await call('PUT', `${WE}/vm-1`, { body: { ...workloadEntry('198.51.100.11'), metadata: { name: 'vm-1', resourceVersion: current.metadata.resourceVersion } } });
    expect(updated.status).to.equal(200);
    const stale = await call('PUT', `${WE}/vm-1`, { body: { ...workloadEntry('198.51.100.12'), metadata: { name: 'vm-1', resourceVersion: current.metadata.resourceVersion } } });
    expect(stale.body).to.include({ code: 409, reason: 'Conflict' });
    expect(sim.object('workloadentries', 'vm-ns', 'vm-1')?.spec).to.include({ address: '198.51.100.11' });
  });

  it('lists and deletes, then answers 404 NotFound', async function () {
    await call('POST', WE, { body: workloadEntry('198.51.100.10') });
    const list = await call('GET', WE);
    expect(list.body).to.include({ kind: 'WorkloadEntryList' });
    expect(list.body.items).to.have.length(1);
    expect((await call('DELETE', `${WE}/vm-1`)).status).to.equal(200);
    expect((await call('GET', `${WE}/vm-1`)).body).to.include({ code: 404, reason: 'NotFound' });
  });

  it('validates objects against the Istio CRDs and answers 422 Invalid with the causes', async function () {
    const answer = await call('POST', WE, { body: workloadEntry('198.51.100.10', { ports: { http: 70000 }, unknownField: true }) });
    expect(answer.body).to.include({ code: 422, reason: 'Invalid' });
    const causes = (answer.body.details as { causes: { message: string }[] }).causes.map((cause) => cause.message);
    expect(causes.join('\n')).to.include('unknownField');
    expect(sim.objects('workloadentries', 'vm-ns')).to.be.empty;
  });

  it('applies server-side: creates, records the manager, and is a no-op when nothing changes', async function () {
    const created = await apply(workloadEntry('198.51.100.10'), 'vmsi');
    expect(created.status).to.equal(201);
    const first = created.body as { metadata: { resourceVersion: string; managedFields: { manager: string; operation: string; fieldsV1: unknown }[] } };
    expect(first.metadata.managedFields).to.have.length(1);
    expect(first.metadata.managedFields[0]).to.deep.include({ manager: 'vmsi', operation: 'Apply', fieldsV1: { 'f:spec': { 'f:address': {}, 'f:serviceAccount': {} } } });

    const again = await apply(workloadEntry('198.51.100.10'), 'vmsi');
    expect(again.status).to.equal(200);
    expect((again.body as typeof first).metadata.resourceVersion).to.equal(first.metadata.resourceVersion);
  });

  it('answers 409 when another manager owns a changed field, unless forced', async function () {
    await apply(workloadEntry('198.51.100.10'), 'vmsi');
    const conflict = await apply(workloadEntry('198.51.100.99'), 'kubectl');
    expect(conflict.body).to.include({ code: 409, reason: 'Conflict' });
    expect(conflict.body.message).to.include('conflict with "vmsi": .spec.address');

    const forced = await apply(workloadEntry('198.51.100.99'), 'kubectl', true);
    expect(forced.status).to.equal(200);
    const managers = (forced.body as { metadata: { managedFields: { manager: string; fieldsV1: Record<string, Record<string, unknown>> }[] } }).metadata.managedFields;
    expect(managers.find((entry) => entry.manager === 'vmsi')?.fieldsV1['f:spec']).to.deep.equal({ 'f:serviceAccount': {} });
  });

  it('validates the merged object of an apply, so a partial apply configuration is accepted', async function () {
    await apply(workloadEntry('198.51.100.10'), 'vmsi');
    const labelsOnly = { apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: 'vm-1', labels: { team: 'a' } } };
    expect((await apply(labelsOnly, 'labeller')).status).to.equal(200);
    expect(sim.object('workloadentries', 'vm-ns', 'vm-1')?.metadata.labels).to.deep.equal({ team: 'a' });
    const invalidMerge = await apply({ ...labelsOnly, spec: { ports: { http: 0 } } }, 'labeller');
    expect(invalidMerge.body).to.include({ code: 422, reason: 'Invalid' });
  });

  it('removes fields a manager applied before and leaves out now', async function () {
    await apply(workloadEntry('198.51.100.10', { network: 'net-1' }), 'vmsi');
    await apply(workloadEntry('198.51.100.10'), 'vmsi');
    expect(sim.object('workloadentries', 'vm-ns', 'vm-1')?.spec).to.deep.equal({ address: '198.51.100.10', serviceAccount: 'vm-sa' });
  });

  it('answers 403 Forbidden outside the rules given to a user', async function () {
    const token = sim.addUser('limited', [{ verbs: ['get'], resources: ['configmaps'], namespaces: ['istio-system'] }]);
    sim.addConfigMap('istio-system', 'istio', { mesh: '{}' });
    expect((await call('GET', '/api/v1/namespaces/istio-system/configmaps/istio', { token })).status).to.equal(200);
    const denied = await call('GET', '/api/v1/namespaces/vm-ns/configmaps/istio', { token });
    expect(denied.body).to.include({ code: 403, reason: 'Forbidden' });
    expect(denied.body.message).to.equal('configmaps "istio" is forbidden: User "limited" cannot get resource "configmaps" in API group "" in the namespace "vm-ns"');
  });

  it('authorizes an apply that creates as create too, as kube-apiserver does', async function () {
    const token = sim.addUser('patcher', [{ verbs: ['patch'], resources: ['workloadentries'] }]);
    const path = `${WE}/vm-1?fieldManager=vmsi&force=true`;
    const denied = await call('PATCH', path, { body: workloadEntry('198.51.100.10'), token, contentType: 'application/apply-patch+yaml' });
    expect(denied.body).to.include({ code: 403 });
    expect(denied.body.message).to.include('cannot create resource "workloadentries"');
    await apply(workloadEntry('198.51.100.10'), 'vmsi');
    expect((await call('PATCH', path, { body: workloadEntry('198.51.100.11'), token, contentType: 'application/apply-patch+yaml' })).status).to.equal(200);
  });

  it('injects faults for the matching requests only, as many times as asked', async function () {
    sim.failNext({ method: 'GET', path: /\/services\//, status: 503, times: 2, retryAfterSeconds: 1 });
    sim.addService('istio-system', 'istio-eastwestgateway', { type: 'LoadBalancer' }, { loadBalancer: { ingress: [{ ip: '198.51.100.1' }] } });
    const path = '/api/v1/namespaces/istio-system/services/istio-eastwestgateway';
    expect((await call('GET', '/api')).status).to.equal(200);
    expect((await call('GET', path)).status).to.equal(503);
    expect((await call('GET', path)).body).to.include({ code: 503, reason: 'ServiceUnavailable' });
    expect((await call('GET', path)).body).to.include({ kind: 'Service' });
  });
});
