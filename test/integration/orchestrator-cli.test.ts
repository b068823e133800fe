import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import type { ServiceStatus } from '../../src/orchestrator/orchestrator-service.js';
import type { ServiceDescriptorInput } from '../../src/orchestrator/service-descriptor.js';
import { startKubernetesSimulator, type KubernetesSimulator, type SimResource } from '../support/k8s-sim/kubernetes-simulator.js';
import type { KubeObject } from '../support/k8s-sim/server-side-apply.js';
import { ServiceProcess } from '../support/service-process.js';
import { runVmsi, spawnVmsi, type CliResult } from '../support/vmsi-cli.js';

/**
 * `vmsi orchestrator …` against a real `vmsi serve` with the orchestrator and a simulated cluster,
 * containers only (no Tacker): what an operator types, and what lands in the cluster.
 */

const SERVICE_LABEL = 'vmsi.dev/service';
const PLURALS: SimResource[] = [
  'namespaces',
  'configmaps',
  'serviceaccounts',
  'services',
  'pods',
  'deployments',
  'workloadgroups',
  'workloadentries',
  'destinationrules',
  'virtualservices',
  'peerauthentications',
  'authorizationpolicies',
];
const TRAFFIC_PLURALS: SimResource[] = ['virtualservices', 'destinationrules', 'peerauthentications', 'authorizationpolicies'];

function shopDescriptor(split: Record<string, number>): ServiceDescriptorInput {
  const ports = [{ name: 'http', port: 8080, protocol: 'HTTP' as const }];
  return {
    apiVersion: 'vmsi.dev/v1alpha1',
    kind: 'MeshService',
    metadata: { name: 'shop' },
    spec: {
      microservices: [
        { name: 'frontend', kind: 'container', version: 'v1', image: 'registry.example/frontend:1.0', ports },
        { name: 'catalog-v1', service: 'catalog', kind: 'container', version: 'v1', image: 'registry.example/catalog:1.0', ports },
        { name: 'catalog-v2', service: 'catalog', kind: 'container', version: 'v2', image: 'registry.example/catalog:2.0', ports },
      ],
      connections: [{ from: 'frontend', to: 'catalog', split }],
    },
  };
}

interface SimMetadata {
  name: string;
  namespace?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
}

/** The simulator stores metadata untyped; these fields are always there as the API server writes them. */
function meta(object: KubeObject | undefined): SimMetadata | undefined {
  return object?.metadata as SimMetadata | undefined;
}

/** Every stored object of the served kinds, in every namespace: key → resourceVersion. */
function snapshot(kube: KubernetesSimulator): Map<string, string> {
  const objects = new Map<string, string>();
  for (const plural of PLURALS) {
    for (const object of kube.objects(plural, '')) {
      const { namespace = '', name, resourceVersion = '' } = meta(object) as SimMetadata;
      objects.set(`${plural}/${namespace}/${name}`, resourceVersion);
    }
  }
  return objects;
}

function changedKeys(before: Map<string, string>, after: Map<string, string>): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((key) => before.get(key) !== after.get(key)).sort();
}

const EVENT_SECRET = 'orchestrator-cli-event-secret-0123456789';

/** Kubernetes and the orchestrator only: no tacker section, as a containers-only deployment needs none. */
async function startOrchestratorService(kube: KubernetesSimulator, unusedKey: string): Promise<ServiceProcess> {
  const service = new ServiceProcess({
    privateKeyPath: unusedKey,
    extraConfig: (dataDir) => ({
      kubernetes: { kubeconfig: path.join(dataDir, 'kubeconfig') },
      orchestrator: { eventSecretFile: path.join(dataDir, 'orchestrator-event-secret'), readyTimeout: '60s' },
    }),
  });
  service.writeSecretFile('kubeconfig', kube.kubeconfig());
  service.writeSecretFile('orchestrator-event-secret', EVENT_SECRET);
  await service.start();
  return service;
}

function writeUnusedKey(workDir: string): string {
  // ServiceProcess copies an SSH key into its secrets; nothing here uses SSH.
  const file = path.join(workDir, 'unused-key');
  writeFileSync(file, 'not a key\n', { mode: 0o600 });
  return file;
}

function descriptorFile(workDir: string, name: string, descriptor: unknown): string {
  const file = path.join(workDir, name);
  writeFileSync(file, stringify(descriptor));
  return file;
}

function cliAgainst(service: ServiceProcess, args: string[], timeoutMs = 120_000): Promise<CliResult> {
  return runVmsi(['orchestrator', ...args, '--url', service.url, '--token-file', path.join(service.dataDir, 'api-token')], { timeoutMs });
}

describe('vmsi orchestrator CLI against a service and a simulated cluster', function () {
  this.timeout(180_000);
  let kube: KubernetesSimulator;
  let service: ServiceProcess;
  let workDir: string;
  /** What existed before the first deployment, none of it the orchestrator's. */
  let preexisting: Map<string, string>;

  before(async function () {
    workDir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-orchestrator-cli-'));
    kube = await startKubernetesSimulator({ requireNamespaces: true });
    kube.addNamespace('unrelated', { team: 'other' });
    kube.addConfigMap('unrelated', 'keep-me', { note: 'not the orchestrator' });
    kube.addConfigMap('default', 'keep-me-too', { note: 'not the orchestrator' });
    service = await startOrchestratorService(kube, writeUnusedKey(workDir));
    preexisting = snapshot(kube);
  });
  after(async function () {
    await service?.remove();
    await kube?.close();
    if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  });

  function orchestrator(args: string[]): Promise<CliResult> {
    return cliAgainst(service, args);
  }

  function writeDescriptor(name: string, descriptor: unknown): string {
    return descriptorFile(workDir, name, descriptor);
  }

  async function status(): Promise<ServiceStatus> {
    const result = await orchestrator(['status', 'shop', '--json']);
    expect(result.code, result.stderr).to.equal(0);
    return JSON.parse(result.stdout) as ServiceStatus;
  }

  /** The status once the predicate holds; the service's jobs go on by themselves. */
  async function statusWhen(predicate: (status: ServiceStatus) => boolean, timeoutMs = 30_000): Promise<ServiceStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seen = await status();
      if (predicate(seen) || Date.now() > deadline) return seen;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  it('deploy --wait brings up the containers in an injected namespace with their traffic rules, and status shows everything ready', async function () {
    const file = writeDescriptor('shop-90-10.yaml', shopDescriptor({ v1: 90, v2: 10 }));
    const result = await orchestrator(['deploy', file, '--wait']);
    expect(result.code, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout).to.match(/accepted: [0-9a-f-]{36} \(deploy shop\); waiting/);
    for (const step of ['namespace', 'workloads', 'vnfs', 'injection', 'traffic', 'ready']) expect(result.stdout).to.match(new RegExp(`✓ ${step} +succeeded`));
    expect(result.stdout).to.include('applied VirtualService/shop/catalog');

    expect(meta(kube.object('namespaces', '', 'shop'))?.labels).to.include({ 'istio-injection': 'enabled', [SERVICE_LABEL]: 'shop' });
    expect(kube.objects('serviceaccounts', 'shop').map((account) => meta(account)?.name)).to.have.members(['catalog', 'frontend']);
    expect(kube.objects('services', 'shop').map((object) => meta(object)?.name)).to.have.members(['catalog', 'frontend']);
    expect(kube.objects('deployments', 'shop').map((object) => meta(object)?.name)).to.have.members(['catalog-v1', 'catalog-v2', 'frontend']);
    const pods = kube.objects('pods', 'shop');
    expect(pods).to.have.length(3);
    for (const pod of pods) {
      const containers = (pod.spec as { containers: Array<{ name: string }> }).containers.map((container) => container.name);
      expect(containers, meta(pod)?.name).to.include('istio-proxy');
      expect(meta(pod)?.labels, meta(pod)?.name).to.include({ 'security.istio.io/tlsMode': 'istio' });
    }
    for (const plural of TRAFFIC_PLURALS) expect(kube.objects(plural, 'shop').map((object) => meta(object)?.name), plural).to.deep.equal(['catalog']);

    const human = await orchestrator(['status', 'shop']);
    expect(human.code, human.stderr).to.equal(0);
    expect(human.stdout).to.match(/^deployment: [0-9a-f-]{36} deploy succeeded/m);
    expect(human.stdout).to.match(/catalog-v2 +container +v2 +ready yes/);
    expect(human.stdout).to.match(/Deployment frontend +ready yes +1\/1 pods ready/);
    expect(human.stdout).to.match(/VirtualService\/shop\/catalog +present/);
    expect(human.stdout).not.to.include('problem:');
    const parsed = await status();
    expect(parsed.microservices.map((microservice) => [microservice.name, microservice.ready])).to.deep.equal([
      ['frontend', true],
      ['catalog-v1', true],
      ['catalog-v2', true],
    ]);
    expect(parsed.connections[0]?.objects.every((object) => object.present)).to.equal(true);
    expect(parsed.problem).to.equal(undefined);
  });

  it('a canary shift: apply --dry-run prints the weight diff and changes nothing; apply --wait changes only the VirtualService', async function () {
    const file = writeDescriptor('shop-50-50.yaml', shopDescriptor({ v1: 50, v2: 50 }));
    const before = snapshot(kube);
    const plan = await orchestrator(['apply', file, '--dry-run']);
    expect(plan.code, plan.stderr).to.equal(0);
    expect(plan.stdout).to.match(/^Plan: 0 to create, 1 to update, 0 to delete, \d+ unchanged\./);
    expect(plan.stdout).to.include('~ update VirtualService/shop/catalog');
    expect(plan.stdout).to.include('-          weight: 90');
    expect(plan.stdout).to.include('+          weight: 50');
    expect(plan.stdout).to.include('-          weight: 10');
    expect(changedKeys(before, snapshot(kube))).to.deep.equal([]);

    const applied = await orchestrator(['apply', file, '--wait']);
    expect(applied.code, applied.stdout + applied.stderr).to.equal(0);
    expect(changedKeys(before, snapshot(kube))).to.deep.equal(['virtualservices/shop/catalog']);
    const route = (kube.object('virtualservices', 'shop', 'catalog')?.spec as { http: Array<{ route: Array<{ weight?: number }> }> }).http[0]?.route;
    expect(route?.map((destination) => destination.weight)).to.deep.equal([50, 50]);

    const again = await orchestrator(['apply', file, '--dry-run']);
    expect(again.stdout).to.match(/^No changes \(/);
  });

  it('an invalid descriptor exits non-zero and prints every problem the service found, each on its own line', async function () {
    const descriptor = shopDescriptor({ v1: 80, v2: 10 });
    descriptor.spec.connections = [{ from: 'frontend', to: 'inventory' }, ...(descriptor.spec.connections ?? [])];
    const file = writeDescriptor('invalid.yaml', descriptor);
    const before = snapshot(kube);
    for (const command of [['deploy', file, '--wait'], ['apply', file, '--dry-run']]) {
      const result = await orchestrator(command);
      expect(result.code, command.join(' ')).to.equal(2);
      expect(result.stderr).to.include('INVALID_SPEC');
      expect(result.stderr).to.match(/^ {2}- spec\.connections\.0\.to: unknown service inventory/m);
      expect(result.stderr).to.match(/^ {2}- spec\.connections\.1\.split: weights add up to 90/m);
    }
    expect(changedKeys(before, snapshot(kube))).to.deep.equal([]);
  });

  it('a file that cannot be read or is not YAML is refused before anything is sent', async function () {
    const missing = await orchestrator(['deploy', path.join(workDir, 'missing.yaml')]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include('missing.yaml cannot be read');
    const broken = path.join(workDir, 'broken.yaml');
    writeFileSync(broken, 'spec:\n  microservices: [\n    - name: x\n');
    const result = await orchestrator(['apply', broken, '--dry-run']);
    expect(result.code).to.equal(2);
    expect(result.stderr).to.include('broken.yaml is not valid YAML');
    expect(result.stderr).to.match(/^ {2}- .*broken\.yaml: .*line \d+/m);
  });

  it('pods held not ready show in status as not ready with a problem line, and as ready once released', async function () {
    kube.holdPods('shop', 'catalog-v2');
    const held = await status();
    const catalog = held.microservices.find((microservice) => microservice.name === 'catalog-v2');
    expect(catalog?.ready).to.equal(false);
    expect(catalog?.workloads).to.deep.equal([{ name: 'Deployment catalog-v2', ready: false, detail: '0/1 pods ready' }]);
    expect(held.problem).to.equal('catalog-v2: Deployment catalog-v2: 0/1 pods ready');
    const human = await orchestrator(['status', 'shop']);
    expect(human.stdout).to.match(/catalog-v2 +container +v2 +ready no/);
    expect(human.stdout).to.match(/^problem: catalog-v2: Deployment catalog-v2: 0\/1 pods ready$/m);

    kube.setPodsReady(true, { namespace: 'shop', deployment: 'catalog-v2' });
    const released = await status();
    expect(released.microservices.every((microservice) => microservice.ready)).to.equal(true);
    expect(released.problem).to.equal(undefined);
  });

  it('a deployment waits for held pods, reporting them, and succeeds once they are ready', async function () {
    kube.holdPods('shop', 'frontend');
    // A different descriptor than the last one: the service starts a new run instead of returning the finished one.
    const file = writeDescriptor('shop-60-40.yaml', shopDescriptor({ v1: 60, v2: 40 }));
    const accepted = await orchestrator(['deploy', file, '--json']);
    expect(accepted.code, accepted.stderr).to.equal(0);
    const { id } = JSON.parse(accepted.stdout) as { id: string };
    const held = await statusWhen((seen) => seen.problem?.includes('Waiting for containers') === true);
    expect(held.deployment?.id).to.equal(id);
    expect(held.deployment?.currentStep).to.equal('ready');
    expect(held.problem).to.include('Waiting for containers: Deployment frontend: 0/1 pods ready');
    const human = await orchestrator(['status', 'shop']);
    expect(human.stdout).to.match(/Deployment frontend +ready no +0\/1 pods ready/);
    expect(human.stdout).to.match(/^problem: deploy (retry_wait|running): Waiting for containers/m);

    // The same descriptor again joins the running job; its progress shows the wait before the pods are released.
    const follower = spawnVmsi(['orchestrator', 'deploy', file, '--wait', '--url', service.url, '--token-file', path.join(service.dataDir, 'api-token')], {});
    let printed = '';
    const exited = new Promise<number | null>((resolve) => follower.once('close', resolve));
    await new Promise<void>((resolve) => {
      follower.stdout?.on('data', (chunk: Buffer) => {
        printed += chunk.toString();
        if (printed.includes('Waiting for containers')) resolve();
      });
      follower.once('close', () => resolve());
    });
    kube.setPodsReady(true, { namespace: 'shop', deployment: 'frontend' });
    expect(await exited, printed).to.equal(0);
    expect(printed).to.include(`accepted: ${id}`);
    expect(printed).to.include('DEPLOYMENT_WAITING: Waiting for containers: Deployment frontend: 0/1 pods ready');
    expect(printed).to.match(/✓ ready +succeeded/);
    expect((await status()).problem).to.equal(undefined);
  });

  it('teardown --wait removes everything the deployments created, the namespace included, and nothing else', async function () {
    const created = [...snapshot(kube).keys()].filter((key) => !preexisting.has(key));
    expect(created).to.include.members(['namespaces//shop', 'virtualservices/shop/catalog', 'deployments/shop/frontend']);
    const requestsBefore = kube.requests.length;
    const result = await orchestrator(['teardown', 'shop', '--wait']);
    expect(result.code, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout).to.match(/✓ workloads +succeeded/);

    const after = snapshot(kube);
    expect(created.filter((key) => after.has(key))).to.deep.equal([]);
    expect(kube.object('namespaces', '', 'shop')).to.equal(undefined);
    expect(changedKeys(preexisting, after)).to.deep.equal([]);
    expect(kube.object('configmaps', 'unrelated', 'keep-me')).not.to.equal(undefined);
    const deletes = kube.requests.slice(requestsBefore).filter((request) => request.method === 'DELETE');
    expect(deletes.length).to.be.greaterThan(0);
    for (const request of deletes) expect(request.path).to.match(/\/namespaces\/shop(\/|$)/);

    const gone = await orchestrator(['status', 'shop']);
    expect(gone.code).to.equal(0);
    expect(gone.stdout).to.match(/^deployment: [0-9a-f-]{36} teardown succeeded/m);
  });
});
