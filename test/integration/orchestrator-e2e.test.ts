import { expect } from 'chai';
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import type { JobView } from '../../src/injection/job-view.js';
import type { DeploymentView, OrchestrationPlan, ServiceStatus } from '../../src/orchestrator/orchestrator-service.js';
import type { ServiceDescriptorInput } from '../../src/orchestrator/service-descriptor.js';
import type { KeystoneClient } from '../../src/openstack/keystone-client.js';
import type { KubernetesSimulator } from '../support/k8s-sim/kubernetes-simulator.js';
import type { TestVm } from '../support/lab/lab.js';
import type { ServiceProcess } from '../support/service-process.js';
import type { TackerSimulator } from '../support/tacker-sim/tacker-simulator.js';
import { startOrchestratorStack, type OrchestratorStack } from '../support/orchestrator-stack.js';
import type { SimResource } from '../support/k8s-sim/resource-catalog.js';

/**
 * Issue 6 end to end: one `vmsi serve` runs the Tacker plugin, the injector and the orchestrator,
 * as an operator would. The orchestrator creates VNFs through the (simulated) Tacker, whose VMs are
 * real lab VMs; Tacker's notifications make the injector install them over SSH; the injector's
 * signed CloudEvents tell the orchestrator, which then wires traffic in the (simulated) cluster.
 */
const VNFD_ID = 'catalog-vnfd';

function shopDescriptor(options: { split?: Record<string, number>; instances?: number } = {}): ServiceDescriptorInput {
  return {
    apiVersion: 'vmsi.dev/v1alpha1',
    kind: 'MeshService',
    metadata: { name: 'shop' },
    spec: {
      microservices: [
        { name: 'frontend', kind: 'container', version: 'v1', image: 'registry.example/frontend:1.2', replicas: 2, ports: [{ name: 'http', port: 8080, protocol: 'HTTP' }] },
        {
          name: 'catalog-vm',
          service: 'catalog',
          kind: 'vm',
          version: 'v1',
          vnfdId: VNFD_ID,
          flavourId: 'simple',
          instances: options.instances ?? 1,
          scalingAspectId: 'catalog_aspect',
          ports: [{ name: 'http', port: 8080, protocol: 'HTTP' }],
        },
        { name: 'catalog-v2', service: 'catalog', kind: 'container', version: 'v2', image: 'registry.example/catalog:2.0', ports: [{ name: 'http', port: 8080, protocol: 'HTTP' }] },
      ],
      connections: [{ from: 'frontend', to: 'catalog', timeout: '5s', split: options.split ?? { v1: 90, v2: 10 } }],
    },
  };
}

describe('orchestrator, end to end with Tacker, real VMs and the cluster', function () {
  this.timeout(900_000);
  let stack: OrchestratorStack;
  let tacker: TackerSimulator;
  let kube: KubernetesSimulator;
  let service: ServiceProcess;
  let keystone: KeystoneClient;
  let vmsByServer: Map<string, TestVm>;
  const deployTimesMs: number[] = [];
  const labelOf = (object: { metadata: { labels?: unknown } }, key: string): string | undefined => (object.metadata.labels as Record<string, string> | undefined)?.[key];

  before(async function () {
    stack = await startOrchestratorStack({
      registerPackages: (simulator) =>
        simulator.registerVnfd({ vnfdId: VNFD_ID, vdus: [{ vduId: 'VDU1', initialInstances: 1 }], scalingAspects: { catalog_aspect: { vduId: 'VDU1', stepDelta: 1, maxScaleLevel: 3 } } }),
    });
    ({ tacker, kube, service, keystone, vmsByServer } = stack);
    kube.addConfigMap('unrelated', 'keep-me', { note: 'not ours' });
  });

  after(async function () {
    if (deployTimesMs.length > 0) process.stdout.write(`      deploy times (ms): ${deployTimesMs.join(', ')}\n`);
    await stack?.close();
  });

  async function submit(descriptor: ServiceDescriptorInput): Promise<DeploymentView> {
    const { status, body } = await service.request<DeploymentView>('POST', '/v1/orchestrator/deployments', descriptor);
    expect(status, JSON.stringify(body)).to.equal(202);
    return body;
  }

  const waitForDeployment = (id: string): Promise<DeploymentView> => stack.waitForDeployment(id);

  async function deploy(descriptor: ServiceDescriptorInput): Promise<DeploymentView> {
    const started = Date.now();
    const finished = await waitForDeployment((await submit(descriptor)).id);
    deployTimesMs.push(Date.now() - started);
    expect(finished.state, `${JSON.stringify(finished.lastError)}\n${(finished.log ?? []).join('\n')}`).to.equal('succeeded');
    return finished;
  }

  function vnfNamed(name: string): ReturnType<TackerSimulator['vnfInstances']> {
    return tacker.vnfInstances().filter((instance) => instance.vnfInstanceName === name);
  }

  function resourceVersions(): Map<string, string> {
    const versions = new Map<string, string>();
    for (const plural of ['serviceaccounts', 'services', 'deployments', 'workloadgroups', 'virtualservices', 'destinationrules', 'peerauthentications', 'authorizationpolicies'] as const) {
      for (const object of kube.objects(plural, 'shop')) versions.set(`${plural}/${String(object.metadata.name)}`, String(object.metadata.resourceVersion));
    }
    return versions;
  }

  it('deploys two container microservices and a VM microservice: the VM through Tacker, injected for real and registered; traffic wired; status ready', async function () {
    const done = await deploy(shopDescriptor());
    expect(done.steps.map((step) => step.name)).to.deep.equal(['namespace', 'workloads', 'vnfs', 'injection', 'traffic', 'ready']);
    const [vnf, ...others] = vnfNamed('shop-catalog-vm');
    expect(others).to.deep.equal([]);
    expect(vnf?.instantiationState).to.equal('INSTANTIATED');
    const serverId = vnf?.vnfcs[0]?.serverId ?? '';
    const vm = vmsByServer.get(serverId);
    expect((await vm?.run(['systemctl', 'is-active', 'istio']))?.stdout.trim()).to.equal('active');
    const entries = kube.objects('workloadentries', 'shop');
    expect(entries.map((entry) => (entry.spec as { address?: string }).address)).to.deep.equal([vm?.address]);
    expect((entries[0]?.spec as { labels?: Record<string, string> }).labels).to.include({ app: 'catalog', version: 'v1' });
    expect(kube.object('namespaces', '', 'shop')?.metadata.labels).to.include({ 'istio-injection': 'enabled' });
    expect(kube.objects('pods', 'shop').every((pod) => ((pod.spec as { containers: Array<{ name: string }> }).containers).some((container) => container.name === 'istio-proxy'))).to.equal(true);
    for (const plural of ['virtualservices', 'destinationrules', 'peerauthentications', 'authorizationpolicies'] satisfies SimResource[]) expect(kube.objects(plural, 'shop'), plural).to.not.deep.equal([]);
    const route = kube.object('virtualservices', 'shop', 'catalog')?.spec as { http: Array<{ route: Array<{ weight?: number; destination: { subset: string } }> }> };
    const split = route.http.find((rule) => rule.route.length === 2);
    expect(split?.route.map((target) => [target.destination.subset, target.weight])).to.deep.equal([['v1', 90], ['v2', 10]]);

    const { body: status } = await service.request<ServiceStatus>('GET', '/v1/orchestrator/services/shop');
    expect(status.problem, JSON.stringify(status)).to.equal(undefined);
    expect(status.microservices.map((microservice) => [microservice.name, microservice.ready])).to.deep.equal([['frontend', true], ['catalog-vm', true], ['catalog-v2', true]]);
    expect(status.connections[0]?.objects.every((object) => object.present)).to.equal(true);
  });

  it('shifts the canary 90/10 → 50/50: the plan names one VirtualService and changes nothing; applying it changes exactly that object', async function () {
    const before = resourceVersions();
    const { status, body: plan } = await service.request<OrchestrationPlan>('POST', '/v1/orchestrator/plans', shopDescriptor({ split: { v1: 50, v2: 50 } }));
    expect(status).to.equal(200);
    expect(plan.objects).to.deep.include({ create: [], update: ['VirtualService/shop/catalog'], delete: [] });
    expect(plan.vnfs.map((change) => change.action)).to.deep.equal(['none']);
    expect(plan.text).to.match(/weight: 50/);
    expect(resourceVersions()).to.deep.equal(before);

    await deploy(shopDescriptor({ split: { v1: 50, v2: 50 } }));
    const after = resourceVersions();
    const changed = [...after.keys()].filter((key) => after.get(key) !== before.get(key));
    expect(changed).to.deep.equal(['virtualservices/catalog']);
  });

  it('scales the VM microservice 1 → 2 across a kill -9 of the service mid-deployment, without duplicates, then back to 1', async function () {
    const scaled = shopDescriptor({ split: { v1: 50, v2: 50 }, instances: 2 });
    const submitted = await submit(scaled);
    // Crash while Tacker scales out or the new VM is being injected.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const { body } = await service.request<DeploymentView>('GET', `/v1/orchestrator/deployments/${submitted.id}`);
      if (body.currentStep === 'vnfs' || body.currentStep === 'injection') break;
      if (Date.now() > deadline) throw new Error(`deployment never reached vnfs: ${body.state}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await service.kill();
    await service.start();
    const again = await service.request<DeploymentView>('POST', '/v1/orchestrator/deployments', scaled);
    expect(again.body.id, 'a re-run while the deployment runs returns it').to.equal(submitted.id);
    const finished = await waitForDeployment(submitted.id);
    expect(finished.state, JSON.stringify(finished.lastError)).to.equal('succeeded');
    const vnfs = vnfNamed('shop-catalog-vm');
    expect(vnfs).to.have.length(1);
    expect(vnfs[0]?.vnfcs).to.have.length(2);
    expect(kube.objects('workloadentries', 'shop')).to.have.length(2);
    expect(kube.objects('deployments', 'shop').map((object) => object.metadata.name).sort()).to.deep.equal(['catalog-v2', 'frontend']);

    await deploy(shopDescriptor({ split: { v1: 50, v2: 50 }, instances: 1 }));
    const [remaining] = vnfNamed('shop-catalog-vm')[0]?.vnfcs ?? [];
    const entries = kube.objects('workloadentries', 'shop');
    expect(entries.map((entry) => labelOf(entry, 'vmsi.dev/server-id'))).to.deep.equal([remaining?.serverId]);
    const removals = (await service.request<{ items: JobView[] }>('GET', '/v1/injections?kind=remove&limit=100')).body.items;
    expect(removals.filter((job) => job.state === 'succeeded')).to.have.length(1);
  });

  it('reports which VM failed injection, in which step and why; after the fix a re-run continues', async function () {
    const broken: ServiceDescriptorInput = {
      apiVersion: 'vmsi.dev/v1alpha1',
      kind: 'MeshService',
      metadata: { name: 'billing', namespace: 'shop' },
      spec: {
        microservices: [
          { name: 'billing-vm', service: 'billing', kind: 'vm', version: 'v1', vnfdId: VNFD_ID, flavourId: 'simple', ports: [{ name: 'http', port: 8080, protocol: 'HTTP' }], ssh: { user: 'vmadmin', privateKeySecret: 'billing-key' } },
        ],
      },
    };
    const failed = await waitForDeployment((await submit(broken)).id);
    expect(failed.state).to.equal('failed');
    expect(failed.lastError?.code).to.equal('INJECTION_FAILED');
    const serverId = vnfNamed('billing-billing-vm')[0]?.vnfcs[0]?.serverId ?? 'missing';
    expect(failed.lastError?.message).to.include(serverId).and.to.include('billing-vm').and.to.match(/step \w+: SECRET_UNAVAILABLE/);
    const { body: status } = await service.request<ServiceStatus>('GET', '/v1/orchestrator/services/billing');
    expect(status.problem).to.include(serverId);

    copyFileSync(path.join(service.dataDir, 'secrets', 'lab-key'), path.join(service.dataDir, 'secrets', 'billing-key'));
    const fixed = await deploy(broken);
    expect(fixed.log?.join('\n')).to.match(/re-running the failed injection/);
    expect(vnfNamed('billing-billing-vm')).to.have.length(1);
    expect(kube.objects('workloadentries', 'shop').filter((entry) => labelOf(entry, 'app') === 'billing')).to.have.length(1);
  });

  it('tears down every object and VNF it created and nothing else', async function () {
    const { authToken } = await keystone.token();
    const foreign = await fetch(`${tacker.url}/vnflcm/v2/vnf_instances`, {
      method: 'POST',
      headers: { 'x-auth-token': authToken, 'content-type': 'application/json', version: '2.0.0' },
      body: JSON.stringify({ vnfdId: VNFD_ID, vnfInstanceName: 'not-ours' }),
    });
    expect(foreign.status).to.equal(201);
    for (const name of ['billing', 'shop']) {
      const { status, body } = await service.request<DeploymentView>('DELETE', `/v1/orchestrator/services/${name}`);
      expect(status).to.equal(202);
      const done = await waitForDeployment(body.id);
      expect(done.state, `${name}: ${JSON.stringify(done.lastError)}`).to.equal('succeeded');
    }
    expect(tacker.vnfInstances().map((instance) => instance.vnfInstanceName)).to.deep.equal(['not-ours']);
    expect(vmsByServer.size).to.equal(0);
    expect(kube.object('namespaces', '', 'shop')).to.equal(undefined);
    for (const plural of ['deployments', 'services', 'workloadentries', 'workloadgroups', 'virtualservices', 'destinationrules', 'peerauthentications', 'authorizationpolicies'] satisfies SimResource[]) {
      expect(kube.objects(plural, 'shop'), plural).to.deep.equal([]);
    }
    expect(kube.object('configmaps', 'unrelated', 'keep-me')).to.not.equal(undefined);
    expect(kube.object('configmaps', 'istio-system', 'istio')).to.not.equal(undefined);
  });
});
