import { expect } from 'chai';
import { TEST_TOKEN_MARKER } from '../test-credentials.js';
import { startKubernetesSimulator, type KubernetesSimulator } from './kubernetes-simulator.js';
import { matchesLabelSelector, parseLabelSelector } from './label-selector.js';

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
    expect(((await call('GET', '/apis')).body.groups as { name: string }[]).map((group) => group.name)).to.deep.equal(['apps', 'networking.istio.io', 'security.istio.io']);
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

  it("answers a SelfSubjectAccessReview by the caller's own rules, names and subresources included", async function () {
    const token = sim.addUser('reviewer', [
      { verbs: ['get'], resources: ['configmaps'], namespaces: ['vm-ns'], resourceNames: ['istio-ca-root-cert'] },
      { verbs: ['create'], resources: ['serviceaccounts/token'], namespaces: ['vm-ns'] },
    ]);
    const review = (resourceAttributes: Record<string, string>) =>
      call('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { token, body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes } } });
    const allowed = await review({ verb: 'get', resource: 'configmaps', namespace: 'vm-ns', name: 'istio-ca-root-cert' });
    expect(allowed.status).to.equal(201);
    expect(allowed.body).to.include({ kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1' });
    expect(allowed.body.spec).to.deep.equal({ resourceAttributes: { verb: 'get', resource: 'configmaps', namespace: 'vm-ns', name: 'istio-ca-root-cert' } });
    expect((allowed.body.status as { allowed: boolean }).allowed).to.equal(true);
    expect(((await review({ verb: 'get', resource: 'configmaps', namespace: 'vm-ns', name: 'istio' })).body.status as { allowed: boolean }).allowed).to.equal(false);
    expect(((await review({ verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: 'vm-ns' })).body.status as { allowed: boolean }).allowed).to.equal(true);
    expect(((await review({ verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: 'other' })).body.status as { allowed: boolean }).allowed).to.equal(false);
    const empty = await call('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { token, body: { spec: {} } });
    expect(empty.status).to.equal(422);
    expect((await call('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { token: 'nobody', body: { spec: {} } })).status).to.equal(401);
  });

  describe('generic resources', function () {
    const NS = '/api/v1/namespaces';
    const DEPLOYMENTS = '/apis/apps/v1/namespaces/shop/deployments';

    function deployment(replicas: number, extra: { annotations?: Record<string, string>; image?: string } = {}): Record<string, unknown> {
      return {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'cart', namespace: 'shop', labels: { app: 'cart' } },
        spec: {
          replicas,
          selector: { matchLabels: { app: 'cart' } },
          template: {
            metadata: { labels: { app: 'cart', version: 'v1' }, ...(extra.annotations === undefined ? {} : { annotations: extra.annotations }) },
            spec: { containers: [{ name: 'cart', image: extra.image ?? 'registry.example/cart:1' }] },
          },
        },
      };
    }

    const applyAt = (path: string, body: unknown, manager = 'vmsi-orchestrator'): ReturnType<typeof call> =>
      call('PATCH', `${path}?fieldManager=${manager}&force=true`, { body, contentType: 'application/apply-patch+yaml' });
    const namespace = (name: string, labels: Record<string, string> = {}): Record<string, unknown> => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
    const configMap = (ns: string, name: string, labels: Record<string, string>): Record<string, unknown> => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, labels }, data: { a: '1' } });
    const names = (list: { body: Record<string, unknown> }): string[] => (list.body.items as { metadata: { name: string } }[]).map((item) => item.metadata.name);

    it('parses label selectors as the API server does, including set-based and existence requirements', function () {
      const labels = { app: 'cart', tier: 'web' };
      const matches = (selector: string): boolean => matchesLabelSelector(parseLabelSelector(selector), labels);
      expect(['app=cart', 'app==cart', 'app!=shop', 'app in (cart,shop)', 'app notin (shop)', 'app', '!owner', 'app=cart,tier in (web)', 'owner!=x', 'owner notin (x)', ''].map(matches)).to.deep.equal(Array(11).fill(true));
      expect(['app=shop', 'app!=cart', 'app in (shop)', 'app notin (cart, shop)', 'owner', '!app', 'app=cart,tier=db'].map(matches)).to.deep.equal(Array(7).fill(false));
      expect(() => parseLabelSelector('app in cart')).to.throw(/expected: '\('/);
      expect(() => parseLabelSelector('app=a b')).to.throw();
    });

    it('lists with label selectors, in one namespace or across all, items without apiVersion/kind as built-in lists are served', async function () {
      await call('POST', '/api/v1/namespaces/a/configmaps', { body: configMap('a', 'one', { app: 'cart', tier: 'web' }) });
      await call('POST', '/api/v1/namespaces/a/configmaps', { body: configMap('a', 'two', { app: 'shop' }) });
      await call('POST', '/api/v1/namespaces/b/configmaps', { body: configMap('b', 'three', { app: 'cart' }) });

      const all = await call('GET', '/api/v1/configmaps?labelSelector=app%3Dcart');
      expect(all.body).to.deep.include({ kind: 'ConfigMapList', apiVersion: 'v1' });
      expect(names(all)).to.deep.equal(['one', 'three']);
      expect((all.body.items as Record<string, unknown>[])[0]).to.not.have.any.keys('apiVersion', 'kind');
      expect(names(await call('GET', `/api/v1/namespaces/a/configmaps?labelSelector=${encodeURIComponent('app in (cart,shop),!tier')}`))).to.deep.equal(['two']);
      expect(names(await call('GET', `/api/v1/namespaces/a/configmaps?labelSelector=${encodeURIComponent('tier')}`))).to.deep.equal(['one']);
      const bad = await call('GET', `/api/v1/configmaps?labelSelector=${encodeURIComponent('app in cart')}`);
      expect(bad.body).to.include({ code: 400, reason: 'BadRequest' });

      await call('POST', WE, { body: workloadEntry('198.51.100.10') });
      const custom = await call('GET', '/apis/networking.istio.io/v1/workloadentries');
      expect((custom.body.items as Record<string, unknown>[])[0]).to.include({ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry' });
    });

    it('serves discovery for every resource with its scope, kind and verbs', async function () {
      const core = (await call('GET', '/api/v1')).body.resources as { name: string; namespaced: boolean; kind: string; verbs: string[] }[];
      expect(core.find((resource) => resource.name === 'namespaces')).to.deep.include({ namespaced: false, kind: 'Namespace' });
      expect(core.find((resource) => resource.name === 'pods')?.verbs).to.deep.equal(['delete', 'get', 'list']);
      expect(core.map((resource) => resource.name)).to.include.members(['configmaps', 'serviceaccounts', 'serviceaccounts/token', 'services']);
      const apps = (await call('GET', '/apis/apps/v1')).body.resources as { name: string; namespaced: boolean; kind: string; verbs: string[] }[];
      expect(apps[0]).to.deep.include({ name: 'deployments', namespaced: true, kind: 'Deployment' });
      expect(apps[0]?.verbs).to.include.members(['create', 'delete', 'get', 'list', 'patch', 'update']);
      const networking = (await call('GET', '/apis/networking.istio.io/v1')).body.resources as { name: string }[];
      expect(networking.map((resource) => resource.name)).to.include.members(['destinationrules', 'virtualservices', 'workloadentries', 'workloadgroups']);
      const security = (await call('GET', '/apis/security.istio.io/v1')).body.resources as { name: string; kind: string }[];
      expect(security.filter((resource) => !resource.name.includes('/')).map((resource) => resource.kind)).to.deep.equal(['AuthorizationPolicy', 'PeerAuthentication']);
    });

    it('validates VirtualService, DestinationRule, PeerAuthentication and AuthorizationPolicy against the CRDs', async function () {
      const objects: [string, Record<string, unknown>, Record<string, unknown>][] = [
        [
          '/apis/networking.istio.io/v1/namespaces/shop/virtualservices',
          { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'cart' }, spec: { hosts: ['cart'], http: [{ route: [{ destination: { host: 'cart', subset: 'v1' }, weight: 100 }], timeout: '5s' }] } },
          { hosts: ['cart'], http: [{ route: [{ destination: { host: 'cart' } }], timeout: 5 }] },
        ],
        [
          '/apis/networking.istio.io/v1/namespaces/shop/destinationrules',
          { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'cart' }, spec: { host: 'cart', subsets: [{ name: 'v1', labels: { version: 'v1' } }], trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } } },
          { host: 'cart', trafficPolicy: { tls: { mode: 'SOMETIMES' } } },
        ],
        [
          '/apis/security.istio.io/v1/namespaces/shop/peerauthentications',
          { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default' }, spec: { mtls: { mode: 'STRICT' } } },
          { mtls: { mode: 'STRICT' }, unknownField: true },
        ],
        [
          '/apis/security.istio.io/v1/namespaces/shop/authorizationpolicies',
          { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'cart' }, spec: { selector: { matchLabels: { app: 'cart' } }, action: 'ALLOW', rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/web'] } }] }] } },
          { action: 'PERMIT' },
        ],
      ];
      for (const [path, valid, invalidSpec] of objects) {
        expect((await call('POST', path, { body: valid })).status, path).to.equal(201);
        const refused = await call('POST', path, { body: { ...valid, metadata: { name: 'other' }, spec: invalidSpec } });
        expect(refused.body, path).to.include({ code: 422, reason: 'Invalid' });
        expect((refused.body.details as { causes: unknown[] }).causes, path).to.not.be.empty;
      }
      expect(sim.objects('virtualservices', 'shop')).to.have.length(1);
    });

    it('creates namespaced objects only in namespaces that exist, when asked to be strict', async function () {
      const strict = await startKubernetesSimulator({ requireNamespaces: true });
      try {
        const post = (path: string, body: unknown) => fetch(`${strict.url}${path}`, { method: 'POST', headers: { Authorization: `Bearer ${strict.adminToken}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
        const missing = await post('/api/v1/namespaces/shop/configmaps', configMap('shop', 'one', {}));
        expect(missing.status).to.equal(404);
        expect(await missing.json()).to.include({ reason: 'NotFound', message: 'namespaces "shop" not found' });
        expect((await post(NS, namespace('shop'))).status).to.equal(201);
        expect((await post('/api/v1/namespaces/shop/configmaps', configMap('shop', 'one', {}))).status).to.equal(201);
        expect(strict.object('namespaces', '', 'shop')?.metadata.labels).to.deep.equal({ 'kubernetes.io/metadata.name': 'shop' });
        expect(strict.objects('namespaces', '').map((object) => object.metadata.name)).to.include.members(['default', 'kube-system']);
      } finally {
        await strict.close();
      }
    });

    it('deletes everything in a namespace with it, at once, and never deletes default', async function () {
      await applyAt(`${NS}/shop`, namespace('shop'));
      await call('POST', '/api/v1/namespaces/shop/configmaps', { body: configMap('shop', 'one', {}) });
      await applyAt(`${DEPLOYMENTS}/cart`, deployment(2));
      await call('POST', '/api/v1/namespaces/other/configmaps', { body: configMap('other', 'kept', {}) });

      const deleted = await call('DELETE', `${NS}/shop`);
      expect(deleted.status).to.equal(200);
      expect(deleted.body.status).to.deep.equal({ phase: 'Terminating' });
      expect(sim.objects('configmaps', 'shop')).to.be.empty;
      expect(sim.objects('deployments', 'shop')).to.be.empty;
      expect(sim.objects('pods', 'shop')).to.be.empty;
      expect(sim.objects('configmaps', 'other')).to.have.length(1);
      expect((await call('GET', `${NS}/shop`)).status).to.equal(404);
      expect((await call('DELETE', `${NS}/default`)).body).to.include({ code: 403, message: 'namespaces "default" is forbidden: this namespace may not be deleted' });
    });

    it('runs a Deployment: replicas Pods with the sidecar in an injected namespace, status, generation', async function () {
      await applyAt(`${NS}/shop`, namespace('shop', { 'istio-injection': 'enabled' }));
      const created = await applyAt(`${DEPLOYMENTS}/cart`, deployment(2));
      expect(created.status).to.equal(201);
      expect((created.body.metadata as { generation: number }).generation).to.equal(1);

      const pods = sim.objects('pods', 'shop');
      expect(pods).to.have.length(2);
      const pod = pods[0] as { metadata: { name: string; labels: Record<string, string>; ownerReferences: { kind: string; name: string }[] }; spec: { containers: { name: string; image: string }[] }; status: Record<string, unknown> };
      expect(pod.metadata.name).to.match(/^cart-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
      expect(pod.metadata.labels).to.include({ app: 'cart', version: 'v1' });
      expect(pod.metadata.ownerReferences[0]).to.include({ kind: 'Deployment', name: 'cart' });
      expect(pod.spec.containers.map((container) => container.name)).to.deep.equal(['cart', 'istio-proxy']);
      expect(pod.spec.containers[1]?.image).to.equal('docker.io/istio/proxyv2:1.28.0');
      expect(pod.status).to.include({ phase: 'Running' });
      expect(pod.status.conditions).to.deep.include({ type: 'Ready', status: 'True', lastTransitionTime: (pod.status.conditions as { lastTransitionTime: string }[])[0]?.lastTransitionTime });

      const stored = sim.object('deployments', 'shop', 'cart') as unknown as { status: Record<string, unknown> };
      expect(stored.status).to.include({ observedGeneration: 1, replicas: 2, readyReplicas: 2, availableReplicas: 2, updatedReplicas: 2 });
      expect((stored.status.conditions as { type: string; status: string }[])[0]).to.include({ type: 'Available', status: 'True' });

      const scaled = await applyAt(`${DEPLOYMENTS}/cart`, deployment(3, { image: 'registry.example/cart:2' }));
      expect((scaled.body.metadata as { generation: number }).generation).to.equal(2);
      const newPods = sim.objects('pods', 'shop');
      expect(newPods).to.have.length(3);
      expect(newPods.map((candidate) => candidate.metadata.name)).to.not.include(pod.metadata.name);
      expect(sim.object('deployments', 'shop', 'cart')?.status).to.include({ observedGeneration: 2, readyReplicas: 3 });
    });

    it('injects no sidecar without the namespace label or when the pod template opts out, and istio.io/rev also enables it', async function () {
      await applyAt(`${NS}/shop`, namespace('shop'));
      await applyAt(`${DEPLOYMENTS}/cart`, deployment(1));
      const containers = (): string[] => (sim.objects('pods', 'shop')[0]?.spec as { containers: { name: string }[] }).containers.map((container) => container.name);
      expect(containers()).to.deep.equal(['cart']);

      await call('DELETE', `${NS}/shop`);
      await applyAt(`${NS}/shop`, namespace('shop', { 'istio.io/rev': 'canary' }));
      await applyAt(`${DEPLOYMENTS}/cart`, deployment(1));
      expect(containers()).to.deep.equal(['cart', 'istio-proxy']);
      await applyAt(`${DEPLOYMENTS}/cart`, deployment(1, { annotations: { 'sidecar.istio.io/inject': 'false' } }));
      expect(containers()).to.deep.equal(['cart']);
    });

    it('holds pods not ready when asked, and the Deployment reports it', async function () {
      sim.holdPods('shop', 'cart');
      await applyAt(`${DEPLOYMENTS}/cart`, deployment(2));
      const status = sim.object('deployments', 'shop', 'cart')?.status as { readyReplicas: number; conditions: { type: string; status: string }[] };
      expect(status.readyReplicas).to.equal(0);
      expect(status.conditions[0]).to.include({ type: 'Available', status: 'False' });
      const pod = sim.objects('pods', 'shop')[0] as unknown as { status: { conditions: { type: string; status: string }[]; containerStatuses: { ready: boolean }[] } };
      expect(pod.status.conditions.find((condition) => condition.type === 'Ready')?.status).to.equal('False');
      expect(pod.status.containerStatuses.every((container) => !container.ready)).to.equal(true);

      sim.setPodsReady(true);
      expect(sim.object('deployments', 'shop', 'cart')?.status).to.include({ readyReplicas: 2, availableReplicas: 2 });
    });

    it('replaces a deleted pod, deletes the pods with their Deployment, and refuses to create pods', async function () {
      await applyAt(`${DEPLOYMENTS}/cart`, deployment(1));
      const first = sim.objects('pods', 'shop')[0]?.metadata.name as string;
      expect((await call('DELETE', `/api/v1/namespaces/shop/pods/${first}`)).status).to.equal(200);
      const replacement = sim.objects('pods', 'shop');
      expect(replacement).to.have.length(1);
      expect(replacement[0]?.metadata.name).to.not.equal(first);
      expect((await call('POST', '/api/v1/namespaces/shop/pods', { body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } } })).status).to.equal(405);

      expect((await call('DELETE', `${DEPLOYMENTS}/cart?propagationPolicy=Background`)).status).to.equal(200);
      expect(sim.objects('pods', 'shop')).to.be.empty;
    });

    it('refuses a Deployment whose selector does not match its template, with the field', async function () {
      const body = deployment(1);
      (body.spec as { selector: unknown }).selector = { matchLabels: { app: 'other' } };
      const answer = await applyAt(`${DEPLOYMENTS}/cart`, body);
      expect(answer.body).to.include({ code: 422, reason: 'Invalid' });
      expect(answer.body.message).to.match(/^Deployment\.apps "cart" is invalid: spec\.template\.metadata\.labels: Invalid value/);
    });

    it('authorizes namespaces at the cluster scope for list and create, and by name otherwise', async function () {
      const token = sim.addUser('ns-reader', [{ verbs: ['get'], resources: ['namespaces'], namespaces: ['shop'] }]);
      await applyAt(`${NS}/shop`, namespace('shop'));
      expect((await call('GET', `${NS}/shop`, { token })).status).to.equal(200);
      const list = await call('GET', NS, { token });
      expect(list.body.message).to.equal('namespaces is forbidden: User "ns-reader" cannot list resource "namespaces" in API group "" at the cluster scope');
      const all = await call('GET', '/apis/apps/v1/deployments', { token });
      expect(all.body.message).to.equal('deployments.apps is forbidden: User "ns-reader" cannot list resource "deployments" in API group "apps" at the cluster scope');
    });
  });
});
