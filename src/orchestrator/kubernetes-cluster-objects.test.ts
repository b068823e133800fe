import { KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import type { KubeObject } from './kube-object.js';
import { KubernetesClusterObjects, labelSelector } from './kubernetes-cluster-objects.js';
import { startKubernetesSimulator, type AccessRule, type KubernetesSimulator } from '../../test/support/k8s-sim/kubernetes-simulator.js';
import { rulesForServiceAccount } from '../../test/support/k8s-sim/rbac-rules.js';
import { rejection } from '../../test/support/app-error-assertions.js';

const RBAC_FILE = new URL('../../deploy/orchestrator-rbac.yaml', import.meta.url);
const ORCHESTRATOR = { namespace: 'vm-sidecar-injector', name: 'vmsi-orchestrator' };

const namespace = (labels: Record<string, string> = { 'istio-injection': 'enabled' }): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels } });

function deployment(replicas: number): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'cart', namespace: 'shop', labels: { 'app.kubernetes.io/part-of': 'shop', app: 'cart' } },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'cart' } },
      template: { metadata: { labels: { app: 'cart', version: 'v1' } }, spec: { serviceAccountName: 'cart', containers: [{ name: 'cart', image: 'registry.example/cart:1', ports: [{ containerPort: 8080 }] }] } },
    },
  };
}

function virtualService(weight: number, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'cart', namespace: 'shop', labels: { 'app.kubernetes.io/part-of': 'shop' } },
    spec: {
      hosts: ['cart'],
      http: [{ route: [{ destination: { host: 'cart', subset: 'v1' }, weight }, { destination: { host: 'cart', subset: 'v2' }, weight: 100 - weight }] }],
      ...spec,
    },
  };
}

/** One object of every kind the orchestrator deploys, in the order it applies them. */
function everyKind(): KubeObject[] {
  const part = { 'app.kubernetes.io/part-of': 'shop' };
  const meta = (name: string): KubeObject['metadata'] => ({ name, namespace: 'shop', labels: part });
  return [
    namespace({ ...part, 'istio-injection': 'enabled' }),
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta('cart') },
    deployment(1),
    { apiVersion: 'v1', kind: 'Service', metadata: meta('cart'), spec: { selector: { app: 'cart' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
    virtualService(90),
    { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: meta('cart'), spec: { host: 'cart', subsets: [{ name: 'v1', labels: { version: 'v1' } }] } },
    { apiVersion: 'networking.istio.io/v1', kind: 'WorkloadGroup', metadata: meta('billing'), spec: { metadata: { labels: { app: 'billing' } }, template: { serviceAccount: 'billing' } } },
    { apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: meta('billing-vm-1'), spec: { address: '198.51.100.20', serviceAccount: 'billing', labels: { app: 'billing' } } },
    { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: meta('default'), spec: { mtls: { mode: 'STRICT' } } },
    { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: meta('cart'), spec: { selector: { matchLabels: { app: 'cart' } }, action: 'ALLOW', rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/web'] } }] }] } },
  ];
}

describe('KubernetesClusterObjects', function () {
  let sim: KubernetesSimulator;
  let objects: KubernetesClusterObjects;

  function clusterObjectsFor(token?: string, requestTimeoutMs?: number): KubernetesClusterObjects {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromString(sim.kubeconfig(token === undefined ? {} : { token }));
    return new KubernetesClusterObjects({ kubeConfig, ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }) });
  }

  beforeEach(async function () {
    sim = await startKubernetesSimulator({ requireNamespaces: true });
    objects = clusterObjectsFor();
  });

  afterEach(async function () {
    await sim.close();
  });

  it('applies: creates, then is a no-op with the same resourceVersion, then updates what changed', async function () {
    await objects.apply(namespace());
    const created = await objects.apply(virtualService(90));
    expect(created.metadata.resourceVersion).to.be.a('string');
    expect(created.metadata.creationTimestamp).to.be.a('string');
    const managers = (created.metadata.managedFields as { manager: string; operation: string }[]).map((entry) => `${entry.manager} ${entry.operation}`);
    expect(managers).to.deep.equal(['vmsi-orchestrator Apply']);

    const again = await objects.apply(virtualService(90));
    expect(again.metadata.resourceVersion).to.equal(created.metadata.resourceVersion);

    const shifted = await objects.apply(virtualService(50));
    expect(shifted.metadata.resourceVersion).to.not.equal(created.metadata.resourceVersion);
    expect(sim.object('virtualservices', 'shop', 'cart')?.spec).to.deep.equal(virtualService(50).spec);
    const patches = sim.requests.filter((request) => request.method === 'PATCH');
    expect(patches.map((request) => request.query)).to.deep.include({ fieldManager: 'vmsi-orchestrator', force: 'true' });
    expect(patches.every((request) => request.contentType === 'application/apply-patch+yaml')).to.equal(true);
  });

  it('takes back a field someone changed by hand, since it applies with force', async function () {
    await objects.apply(namespace());
    await objects.apply(deployment(2));
    const path = '/apis/apps/v1/namespaces/shop/deployments/cart?fieldManager=kubectl-scale';
    const scaled = await fetch(`${sim.url}${path}`, {
      method: 'PATCH',
      headers: { Authorization: `Bearer ${sim.adminToken}`, 'Content-Type': 'application/apply-patch+yaml' },
      body: JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'cart' }, spec: { replicas: 5 } }),
    });
    expect(scaled.status).to.equal(409);
    await fetch(`${sim.url}${path}&force=true`, {
      method: 'PATCH',
      headers: { Authorization: `Bearer ${sim.adminToken}`, 'Content-Type': 'application/apply-patch+yaml' },
      body: JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'cart' }, spec: { replicas: 5 } }),
    });
    expect(sim.objects('pods', 'shop')).to.have.length(5);

    await objects.apply(deployment(2));
    expect(sim.objects('pods', 'shop')).to.have.length(2);
  });

  it('deploys into an injected namespace and reads the Deployment status and sidecar-injected Pods back', async function () {
    for (const object of everyKind()) await objects.apply(object);
    const stored = await objects.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'cart' });
    expect(stored?.status).to.include({ readyReplicas: 1, availableReplicas: 1, observedGeneration: 1 });

    const pods = await objects.list({ apiVersion: 'v1', kind: 'Pod' }, { namespace: 'shop', labels: { app: 'cart' } });
    expect(pods).to.have.length(1);
    expect(pods[0]).to.include({ apiVersion: 'v1', kind: 'Pod' });
    expect((pods[0]?.spec as { containers: { name: string }[] }).containers.map((container) => container.name)).to.deep.equal(['cart', 'istio-proxy']);
  });

  it('lists by labels, in one namespace or every one, and cluster-scoped kinds', async function () {
    for (const object of everyKind()) await objects.apply(object);
    const part = { 'app.kubernetes.io/part-of': 'shop' };

    const services = await objects.list({ apiVersion: 'v1', kind: 'Service' }, { namespace: 'shop', labels: part });
    expect(services.map((service) => [service.kind, service.metadata.name])).to.deep.equal([['Service', 'cart']]);
    const everywhere = await objects.list({ apiVersion: 'apps/v1', kind: 'Deployment' }, { labels: { ...part, app: 'cart' } });
    expect(everywhere.map((item) => item.metadata.name)).to.deep.equal(['cart']);
    expect(await objects.list({ apiVersion: 'apps/v1', kind: 'Deployment' }, { labels: { app: 'other' } })).to.deep.equal([]);
    const namespaces = await objects.list({ apiVersion: 'v1', kind: 'Namespace' }, { labels: part });
    expect(namespaces.map((item) => item.metadata.name)).to.deep.equal(['shop']);
    const policies = await objects.list({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy' }, { namespace: 'shop', labels: {} });
    expect(policies).to.have.length(1);
    expect(sim.requests.filter((request) => request.query.labelSelector !== undefined).map((request) => request.query.labelSelector)).to.include('app=cart,app.kubernetes.io/part-of=shop');
  });

  it('refuses labels that are not labels, before asking the API server', async function () {
    const before = sim.requests.length;
    const error = await rejection(objects.list({ apiVersion: 'v1', kind: 'Service' }, { labels: { app: 'a,owner!=b' } }));
    expect(error.code).to.equal('INVALID_REQUEST');
    expect(error.retryable).to.equal(false);
    expect(sim.requests).to.have.length(before);
    expect(labelSelector({ b: '2', a: '1' })).to.equal('a=1,b=2');
  });

  it('gets undefined and deletes false for what does not exist; deleting a Deployment takes its Pods, a Namespace everything in it', async function () {
    const ref = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'cart' };
    expect(await objects.get(ref)).to.equal(undefined);
    expect(await objects.delete(ref)).to.equal(false);
    await objects.apply(namespace());
    await objects.apply(deployment(2));
    expect(sim.objects('pods', 'shop')).to.have.length(2);

    expect(await objects.delete(ref)).to.equal(true);
    expect(sim.requests.at(-1)?.query).to.deep.equal({ propagationPolicy: 'Background' });
    expect(sim.objects('pods', 'shop')).to.be.empty;
    expect(await objects.get(ref)).to.equal(undefined);

    await objects.apply(virtualService(90));
    expect(await objects.delete({ apiVersion: 'v1', kind: 'Namespace', name: 'shop' })).to.equal(true);
    expect(await objects.get({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', namespace: 'shop', name: 'cart' })).to.equal(undefined);
  });

  it('reports 422 for an invalid VirtualService with the API server message and causes, not retryable', async function () {
    await objects.apply(namespace());
    const error = await rejection(objects.apply(virtualService(90, { http: [{ route: [{ destination: { host: 'cart' } }], timeout: 5 }] })));
    expect(error.retryable).to.equal(false);
    expect(error.details).to.include({ status: 422, reason: 'Invalid', operation: 'apply VirtualService/shop/cart' });
    expect(error.message).to.match(/^Kubernetes answered apply VirtualService\/shop\/cart with HTTP 422: VirtualService\.networking\.istio\.io "cart" is invalid: /);
    expect(error.problems).to.not.be.empty;
    expect(sim.objects('virtualservices', 'shop')).to.be.empty;
  });

  it('reports a namespace that does not exist as the API server does, not retryable', async function () {
    const error = await rejection(objects.apply(virtualService(90)));
    expect(error.retryable).to.equal(false);
    expect(error.details).to.include({ status: 404, message: 'namespaces "shop" not found' });
  });

  it('marks 503, 429, 409 and dropped connections retryable, and succeeds when asked again', async function () {
    await objects.apply(namespace());
    sim.failNext({ method: 'PATCH', path: /virtualservices\/cart$/, status: 503, retryAfterSeconds: 2 });
    const unavailable = await rejection(objects.apply(virtualService(90)));
    expect(unavailable).to.include({ code: 'SERVICE_UNREACHABLE', retryable: true });
    expect(unavailable.details).to.include({ status: 503, retryAfterMs: 2000 });

    sim.failNext({ method: 'GET', path: /virtualservices\/cart$/, status: 429 });
    expect(await rejection(objects.get({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', namespace: 'shop', name: 'cart' }))).to.include({ retryable: true });
    sim.failNext({ method: 'PATCH', path: /virtualservices\/cart$/, status: 409 });
    expect(await rejection(objects.apply(virtualService(90)))).to.include({ code: 'CONFLICT', retryable: true });
    sim.failNext({ method: 'PATCH', path: /virtualservices\/cart$/, status: 'reset' });
    expect(await rejection(objects.apply(virtualService(90)))).to.include({ code: 'SERVICE_UNREACHABLE', retryable: true });

    expect((await objects.apply(virtualService(90))).metadata.name).to.equal('cart');
  });

  it('gives up on a silent API server after the request timeout, discovery included, retryable', async function () {
    sim.failNext({ method: 'GET', path: /^\/apis\/apps\/v1$/, status: 'hang' });
    const error = await rejection(clusterObjectsFor(undefined, 200).get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'cart' }));
    expect(error).to.include({ code: 'SERVICE_UNREACHABLE', retryable: true });
  });

  describe('with deploy/orchestrator-rbac.yaml', function () {
    let rules: AccessRule[];

    /** Every verb on every kind: apply (create, then patch), get, list, delete, teardown last. */
    async function exercise(clusterObjects: KubernetesClusterObjects): Promise<void> {
      const all = everyKind();
      for (const object of all) await clusterObjects.apply(object);
      for (const object of all) await clusterObjects.apply(object);
      for (const object of all) {
        const { apiVersion, kind, metadata } = object;
        expect(await clusterObjects.get({ apiVersion, kind, name: metadata.name, ...(metadata.namespace === undefined ? {} : { namespace: metadata.namespace }) })).to.not.equal(undefined);
        const listed = await clusterObjects.list({ apiVersion, kind }, { ...(metadata.namespace === undefined ? {} : { namespace: metadata.namespace }), labels: { 'app.kubernetes.io/part-of': 'shop' } });
        expect(listed.map((item) => item.metadata.name)).to.include(metadata.name);
      }
      for (const object of all.slice().reverse()) {
        const { apiVersion, kind, metadata } = object;
        await clusterObjects.delete({ apiVersion, kind, name: metadata.name, ...(metadata.namespace === undefined ? {} : { namespace: metadata.namespace }) });
      }
    }

    beforeEach(async function () {
      rules = rulesForServiceAccount(await readFile(RBAC_FILE, 'utf8'), ORCHESTRATOR);
    });

    it('allows everything the adapter does with every kind the orchestrator deploys', async function () {
      const token = sim.addUser('system:serviceaccount:vm-sidecar-injector:vmsi-orchestrator', rules);
      await exercise(clusterObjectsFor(token));
      expect(sim.requests.filter((request) => request.status === 403)).to.deep.equal([]);
      expect(sim.objects('namespaces', '').map((object) => object.metadata.name)).to.not.include('shop');
    });

    it('needs every verb it grants: without any one of them the adapter gets 403, not retryable', async function () {
      for (const [index, rule] of rules.entries()) {
        for (const verb of rule.verbs) {
          const reduced = rules.map((candidate, position) => (position === index ? { ...candidate, verbs: candidate.verbs.filter((granted) => granted !== verb) } : candidate));
          const token = sim.addUser(`without-${verb}-${rule.resources.join('-')}`, reduced);
          const error = await rejection(exercise(clusterObjectsFor(token)));
          expect(error, `${verb} ${rule.resources.join(',')}`).to.include({ code: 'FORBIDDEN', retryable: false });
          expect(error.details.message, `${verb} ${rule.resources.join(',')}`).to.include(`cannot ${verb} resource`);
          // The next round starts from an empty cluster, as the admin sees it.
          await objects.delete({ apiVersion: 'v1', kind: 'Namespace', name: 'shop' });
        }
      }
    });

    it('grants nothing on Pods, Secrets or updates (PUT)', async function () {
      const token = sim.addUser('system:serviceaccount:vm-sidecar-injector:vmsi-orchestrator', rules);
      const headers = { Authorization: `Bearer ${token}` };
      expect((await fetch(`${sim.url}/api/v1/namespaces/shop/pods`, { headers })).status).to.equal(403);
      expect((await fetch(`${sim.url}/api/v1/namespaces/shop/secrets`, { headers })).status).to.equal(404);
      expect(rules.flatMap((rule) => rule.verbs)).to.not.include('update');
      expect(rules.flatMap((rule) => rule.resources)).to.not.include.members(['pods', 'secrets']);
    });
  });
});
