import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { requiredAccess } from '../../src/cli/doctor/kubernetes-checks.js';
import { loadConfig } from '../../src/config.js';
import { rulesForServiceAccount } from '../support/k8s-sim/rbac-rules.js';
import { startKubernetesSimulator, type KubernetesSimulator } from '../support/k8s-sim/kubernetes-simulator.js';
import { modelNameOf, validateAgainstModel } from '../support/kubernetes-openapi.js';
import { PROJECT_ROOT } from '../support/vmsi-cli.js';

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [key: string]: unknown };

// kubectl reads manifests as YAML 1.1 (sigs.k8s.io/yaml): 0440 is octal there.
function manifestsOf(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(path.join(PROJECT_ROOT, file), 'utf8'), { version: '1.1' }).map((document) => document.toJS() as Manifest);
}

const MANIFESTS = manifestsOf('deploy/kubernetes/vm-sidecar-injector.yaml');
const RBAC = readFileSync(path.join(PROJECT_ROOT, 'deploy/rbac.yaml'), 'utf8');

function find<T = Manifest>(kind: string): T {
  const manifest = MANIFESTS.find((candidate) => candidate.kind === kind);
  if (manifest === undefined) throw new Error(`no ${kind} in the manifests`);
  return manifest as T;
}

interface Container {
  image: string;
  env: Array<{ name: string; value: string }>;
  ports: Array<{ name: string; containerPort: number }>;
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean; capabilities: { drop: string[] } };
  volumeMounts: Array<{ name: string; mountPath: string; subPath?: string }>;
}
interface PodSpec {
  serviceAccountName: string;
  securityContext: { runAsNonRoot: boolean; runAsUser: number; runAsGroup: number; fsGroup: number };
  containers: Container[];
  volumes: Array<{ name: string; configMap?: { name: string }; secret?: { secretName: string }; persistentVolumeClaim?: { claimName: string } }>;
}

const deployment = find<Manifest & { spec: { replicas: number; strategy: { type: string }; template: { spec: PodSpec } } }>('Deployment');
const pod = deployment.spec.template.spec;
const container = pod.containers[0] as Container;

function mountOf(volume: string): { mountPath: string; subPath?: string } {
  const mount = container.volumeMounts.find((candidate) => candidate.name === volume);
  if (mount === undefined) throw new Error(`volume ${volume} is not mounted`);
  return mount;
}

describe('Kubernetes manifests (deploy/kubernetes/) beside istiod', function () {
  let sim: KubernetesSimulator;
  let dir: string;
  before(async function () {
    sim = await startKubernetesSimulator({ requireNamespaces: true });
    dir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-manifests-'));
  });
  after(async function () {
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The service's config as the pod reads it: the ConfigMap's file, at the path VMSI_CONFIG names. */
  function podConfig(): ReturnType<typeof loadConfig> {
    const data = find<Manifest & { data: Record<string, string> }>('ConfigMap').data;
    const mount = mountOf('config');
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, data[mount.subPath as string] as string);
    expect(container.env).to.deep.include({ name: 'VMSI_CONFIG', value: mount.mountPath });
    return loadConfig({ file, env: {} });
  }

  it('decodes strictly against the upstream OpenAPI models (no unknown fields, right types)', function () {
    expect(MANIFESTS.map((manifest) => manifest.kind)).to.deep.equal(['ConfigMap', 'PersistentVolumeClaim', 'Deployment', 'Service']);
    for (const manifest of MANIFESTS) expect(validateAgainstModel(manifest, modelNameOf(manifest)), manifest.kind).to.deep.equal([]);
    // The validator does catch what kubectl --validate=strict refuses.
    expect(validateAgainstModel({ ...deployment, spec: { ...deployment.spec, replica: 2 } }, 'V1Deployment')).to.deep.equal(['spec.replica: unknown field in V1DeploymentSpec']);
    expect(validateAgainstModel({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: '80' }] } }, 'V1Service')).to.have.length(1);
  });

  it('is accepted by the Kubernetes simulator after deploy/rbac.yaml, in the namespace rbac.yaml creates', async function () {
    const headers = { authorization: `Bearer ${sim.adminToken}`, 'content-type': 'application/json' };
    const rbacNamespace = parseAllDocuments(RBAC).map((document) => document.toJS() as Manifest).find((manifest) => manifest.kind === 'Namespace');
    const served: Record<string, string> = { Namespace: '/api/v1/namespaces', ConfigMap: '/api/v1/namespaces/NS/configmaps', Deployment: '/apis/apps/v1/namespaces/NS/deployments', Service: '/api/v1/namespaces/NS/services', ServiceAccount: '/api/v1/namespaces/NS/serviceaccounts' };
    const rbacObjects = parseAllDocuments(RBAC).map((document) => document.toJS() as Manifest).filter((manifest) => manifest.kind === 'ServiceAccount');
    for (const manifest of [rbacNamespace as Manifest, ...rbacObjects, ...MANIFESTS.filter((candidate) => served[candidate.kind] !== undefined)]) {
      const route = (served[manifest.kind] as string).replace('NS', manifest.metadata.namespace ?? '');
      const response = await fetch(`${sim.url}${route}`, { method: 'POST', headers, body: JSON.stringify(manifest) });
      expect(response.status, `${manifest.kind}: ${await response.clone().text()}`).to.equal(201);
    }
    const pods = sim.objects('pods', 'vm-sidecar-injector');
    expect(pods).to.have.length(1);
    // The injector itself is not meshed: istiod's webhook leaves its pod alone.
    expect((pods[0]?.spec as { containers: Array<{ name: string }> }).containers.map((item) => item.name)).to.deep.equal(['vm-sidecar-injector']);
    const service = sim.object('services', 'vm-sidecar-injector', 'vm-sidecar-injector') as unknown as { spec: { selector: Record<string, string> } };
    expect(service.spec.selector).to.deep.equal((deployment.spec as unknown as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels);
  });

  it('runs as the ServiceAccount rbac.yaml binds, with every permission its config needs (SelfSubjectAccessReview)', async function () {
    const account = parseAllDocuments(RBAC).map((document) => document.toJS() as Manifest).find((manifest) => manifest.kind === 'ServiceAccount') as Manifest;
    expect(pod.serviceAccountName).to.equal(account.metadata.name);
    expect(deployment.metadata.namespace).to.equal(account.metadata.namespace);
    const token = sim.addUser('system:serviceaccount:vm-sidecar-injector:vm-sidecar-injector', rulesForServiceAccount(RBAC, { namespace: account.metadata.namespace as string, name: account.metadata.name }));
    const needed = requiredAccess(podConfig(), { workloadNamespaces: ['vm-ns'], istioNamespace: 'istio-system' });
    expect(needed.length).to.be.greaterThan(5);
    const denied: string[] = [];
    for (const access of needed) {
      const response = await fetch(`${sim.url}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: access } }),
      });
      const review = (await response.json()) as { status: { allowed: boolean } };
      if (!review.status.allowed) denied.push(`${access.verb} ${access.resource} ${access.namespace ?? ''}`);
    }
    expect(denied).to.deep.equal([]);
  });

  it('probes /healthz and /readyz on the port the config listens on, which the config serves without a token', function () {
    const config = podConfig();
    const port = container.ports.find((candidate) => candidate.name === 'http');
    expect(port?.containerPort).to.equal(config.http.port);
    expect(config.http.host).to.equal('0.0.0.0');
    expect(container.livenessProbe.httpGet).to.deep.equal({ path: '/healthz', port: 'http' });
    expect(container.readinessProbe.httpGet).to.deep.equal({ path: '/readyz', port: 'http' });
    expect(config.http.auth.mode).to.equal('bearer');
    expect(config.http.auth.anonymousPaths).to.have.members(['/healthz', '/readyz']);
  });

  it('keeps state on the volume, config in the ConfigMap and secrets in the Secret, with a read-only root as the image user', function () {
    const config = podConfig();
    expect(config.kubernetes?.inCluster).to.equal(true);
    expect(mountOf('data').mountPath).to.equal(config.dataDir);
    expect(pod.volumes.find((volume) => volume.name === 'data')?.persistentVolumeClaim?.claimName).to.equal(find('PersistentVolumeClaim').metadata.name);
    const secretsDir = mountOf('secrets').mountPath;
    const files = [...config.http.auth.tokens.map((token) => token.file), config.notify.webhook?.secretFile];
    for (const file of files) expect(path.dirname(file as string), file).to.equal(secretsDir);
    expect(pod.securityContext).to.include({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001 });
    expect(container.securityContext).to.deep.include({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(container.securityContext.capabilities.drop).to.deep.equal(['ALL']);
    // SQLite has one writer: never two pods at once.
    expect(deployment.spec.replicas).to.equal(1);
    expect(deployment.spec.strategy.type).to.equal('Recreate');
    expect(container.image).to.match(/^vm-sidecar-injector:\d+\.\d+\.\d+$/);
  });
});
