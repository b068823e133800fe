import { expect } from 'chai';
import type { JobView } from '../../src/injection/job-view.js';
import { cnfPackageFiles } from '../../src/orchestrator/cnf-package.js';
import type { DeploymentView, OrchestrationPlan, ServiceStatus } from '../../src/orchestrator/orchestrator-service.js';
import { isCnf, parseServiceDescriptor, type ServiceDescriptorInput } from '../../src/orchestrator/service-descriptor.js';
import type { KubernetesSimulator } from '../support/k8s-sim/kubernetes-simulator.js';
import type { SimResource } from '../support/k8s-sim/resource-catalog.js';
import type { TestVm } from '../support/lab/lab.js';
import type { ServiceProcess } from '../support/service-process.js';
import type { TackerSimulator } from '../support/tacker-sim/tacker-simulator.js';
import { startOrchestratorStack, type OrchestratorStack } from '../support/orchestrator-stack.js';

/**
 * Issue 15 end to end: the paper's flow, with Tacker in the loop for containers too. One
 * descriptor has a container the orchestrator applies itself, a container Tacker runs as a CNF on
 * its Kubernetes VIM (the same cluster), and a VM Tacker creates as a lab VM that the injector
 * puts into the mesh. The CNF's pods get their sidecars from the namespace's injection.
 */
const VM_VNFD_ID = 'catalog-vnfd';
const CNF_VNFD_ID = 'catalog-cnf-vnfd';
const K8S_VIM_ID = '290ae639-5b47-42b6-b1b0-c1623f6d856a';
const HTTP = [{ name: 'http', port: 8080, protocol: 'HTTP' as const }];

function shopDescriptor(options: { split?: Record<string, number>; cnfReplicas?: number } = {}): ServiceDescriptorInput {
  return {
    apiVersion: 'vmsi.dev/v1alpha1',
    kind: 'MeshService',
    metadata: { name: 'shop' },
    spec: {
      microservices: [
        { name: 'frontend', kind: 'container', version: 'v1', image: 'registry.example/frontend:1.2', ports: HTTP },
        { name: 'catalog-vm', service: 'catalog', kind: 'vm', version: 'v1', vnfdId: VM_VNFD_ID, flavourId: 'simple', ports: HTTP },
        {
          name: 'catalog-cnf',
          service: 'catalog',
          kind: 'container',
          version: 'v2',
          image: 'registry.example/catalog:2.0',
          replicas: options.cnfReplicas ?? 1,
          via: 'tacker',
          tacker: { vnfdId: CNF_VNFD_ID, flavourId: 'simple', vimId: K8S_VIM_ID, vduId: 'VDU1', scalingAspectId: 'catalog_cnf_aspect' },
          ports: HTTP,
        },
      ],
      connections: [{ from: 'frontend', to: 'catalog', timeout: '5s', split: options.split ?? { v1: 90, v2: 10 } }],
    },
  };
}

/** The CNF package as an operator on-boards it: the VNFD's VDU named after the microservice, and the files the orchestrator renders. */
function registerCnfPackage(tacker: TackerSimulator): void {
  const descriptor = parseServiceDescriptor(shopDescriptor());
  const cnf = descriptor.spec.microservices.find(isCnf);
  if (cnf === undefined) throw new Error('the descriptor has no CNF');
  tacker.registerVnfd({
    vnfdId: CNF_VNFD_ID,
    vdus: [{ vduId: 'VDU1', initialInstances: 1, k8sName: cnf.name }],
    scalingAspects: { catalog_cnf_aspect: { vduId: 'VDU1', stepDelta: 1, maxScaleLevel: 3 } },
    kubernetesFiles: Object.fromEntries(cnfPackageFiles(descriptor, cnf)),
  });
}

describe('orchestrator, end to end with a CNF through Tacker, a direct container and a VM', function () {
  this.timeout(900_000);
  let stack: OrchestratorStack;
  let tacker: TackerSimulator;
  let kube: KubernetesSimulator;
  let service: ServiceProcess;
  let vmsByServer: Map<string, TestVm>;

  before(async function () {
    stack = await startOrchestratorStack({
      kubernetesVimId: K8S_VIM_ID,
      // Long enough that an operation ending while watched can only be learned from its notification.
      orchestrator: { tackerNotifications: { apiReadInterval: '20s' } },
      registerPackages: (simulator) => {
        simulator.registerVnfd({ vnfdId: VM_VNFD_ID, vdus: [{ vduId: 'VDU1', initialInstances: 1 }] });
        registerCnfPackage(simulator);
      },
    });
    ({ tacker, kube, service, vmsByServer } = stack);
  });

  after(async function () {
    await stack?.close();
  });

  const waitForDeployment = (id: string): Promise<DeploymentView> => stack.waitForDeployment(id);

  async function deploy(descriptor: ServiceDescriptorInput): Promise<DeploymentView> {
    const { status, body } = await service.request<DeploymentView>('POST', '/v1/orchestrator/deployments', descriptor);
    expect(status, JSON.stringify(body)).to.equal(202);
    const finished = await waitForDeployment(body.id);
    expect(finished.state, `${JSON.stringify(finished.lastError)}\n${(finished.log ?? []).join('\n')}`).to.equal('succeeded');
    return finished;
  }

  async function plan(descriptor: ServiceDescriptorInput): Promise<OrchestrationPlan> {
    const { status, body } = await service.request<OrchestrationPlan>('POST', '/v1/orchestrator/plans', descriptor);
    expect(status, JSON.stringify(body)).to.equal(200);
    return body;
  }

  function cnfInstance(): ReturnType<TackerSimulator['vnfInstances']>[number] | undefined {
    const found = tacker.vnfInstances().filter((instance) => instance.vnfInstanceName === 'shop-catalog-cnf');
    expect(found.length).to.be.at.most(1);
    return found[0];
  }

  const orchestratorCallback = (): string => `${service.url}/v1/orchestrator/tacker/notifications`;

  /** The deployment's Tacker operations, and how each one's end was learned (from the deploy log). */
  function operationEnds(deployment: DeploymentView): string[] {
    return (deployment.log ?? []).flatMap((line) => /operation \S+ completed \((.+)\)$/.exec(line)?.[1] ?? []);
  }

  async function releasePodsOnceInstantiating(): Promise<void> {
    const deadline = Date.now() + 300_000;
    while (!tacker.opOccs().some((occ) => occ.operation === 'INSTANTIATE' && occ.vnfInstanceId === cnfInstance()?.id)) {
      if (Date.now() > deadline) throw new Error('the CNF was never instantiated');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    kube.setPodsReady(true, { namespace: 'shop', deployment: 'catalog-cnf' });
  }

  function podsOf(deployment: string): string[] {
    return kube
      .objects('pods', 'shop')
      .filter((pod) => (pod.metadata.ownerReferences as Array<{ name: string }> | undefined)?.some((owner) => owner.name === deployment) === true)
      .map((pod) => String(pod.metadata.name))
      .sort();
  }

  it('plans the CNF as it plans the VNF, then deploys all three: the CNF by Tacker with sidecars from the namespace, the VM injected, traffic wired', async function () {
    const planned = await plan(shopDescriptor());
    expect(planned.vnfs.map((change) => [change.kind, change.vnfInstanceName, change.action, change.to])).to.deep.equal([
      ['vnf', 'shop-catalog-vm', 'create', 1],
      ['cnf', 'shop-catalog-cnf', 'create', 1],
    ]);
    expect(planned.text).to.include('+ CNF shop-catalog-cnf: create and instantiate with 1 pod(s)').and.to.include('+ VNF shop-catalog-vm: create and instantiate with 1 VM(s)');
    // The orchestrator applies the direct container's Deployment only; the CNF's is Tacker's.
    expect(planned.objects.create).to.include('Deployment/shop/frontend').and.to.not.include('Deployment/shop/catalog-cnf');

    // The CNF's pods stay not ready until its operation has certainly been read once as running: its end then comes only by notification.
    kube.holdPods('shop', 'catalog-cnf');
    const released = releasePodsOnceInstantiating();
    const done = await deploy(shopDescriptor());
    await released;
    const cnfs = (done.steps.find((step) => step.name === 'vnfs')?.output as { cnfs: Array<{ vnfInstanceName: string; serverIds: string[] }> }).cnfs;
    expect(cnfs.map((cnf) => cnf.vnfInstanceName)).to.deep.equal(['shop-catalog-cnf']);
    expect(cnfs[0]?.serverIds).to.deep.equal(podsOf('catalog-cnf'));

    const instance = cnfInstance();
    expect(instance?.instantiationState).to.equal('INSTANTIATED');
    expect(instance?.cnf?.vimConnectionInfo).to.deep.equal({ vim1: { vimId: K8S_VIM_ID, vimType: 'ETSINFV.KUBERNETES.V_1' } });
    expect(instance?.vnfcs.map((vnfc) => vnfc.serverId)).to.deep.equal(podsOf('catalog-cnf'));
    const cnfDeployment = kube.object('deployments', 'shop', 'catalog-cnf');
    expect((cnfDeployment?.metadata.managedFields as Array<{ manager: string }>).map((field) => field.manager)).to.include('tacker');
    expect(kube.object('namespaces', '', 'shop')?.metadata.labels).to.include({ 'istio-injection': 'enabled' });
    for (const pod of kube.objects('pods', 'shop')) {
      expect((pod.spec as { containers: Array<{ name: string }> }).containers.map((container) => container.name), String(pod.metadata.name)).to.include('istio-proxy');
    }

    const vnf = tacker.vnfInstances().find((candidate) => candidate.vnfInstanceName === 'shop-catalog-vm');
    const vm = vmsByServer.get(vnf?.vnfcs[0]?.serverId ?? '');
    expect((await vm?.run(['systemctl', 'is-active', 'istio']))?.stdout.trim()).to.equal('active');
    expect(kube.objects('workloadentries', 'shop').map((entry) => (entry.spec as { address?: string }).address)).to.deep.equal([vm?.address]);
    const route = kube.object('virtualservices', 'shop', 'catalog')?.spec as { http: Array<{ route: Array<{ weight?: number; destination: { subset: string } }> }> };
    expect(route.http.find((rule) => rule.route.length === 2)?.route.map((target) => [target.destination.subset, target.weight])).to.deep.equal([['v1', 90], ['v2', 10]]);

    // The orchestrator's own subscription: results of the operations it runs, for the VNF and the CNF alike.
    const subscriptions = tacker.subscriptions().filter((subscription) => subscription.callbackUri === orchestratorCallback());
    expect(subscriptions).to.have.length(1);
    expect(subscriptions[0]?.verbosity).to.equal('SHORT');
    expect(subscriptions[0]?.filter).to.deep.include({
      notificationTypes: ['VnfLcmOperationOccurrenceNotification'],
      operationTypes: ['INSTANTIATE', 'SCALE', 'TERMINATE'],
      operationStates: ['COMPLETED', 'FAILED_TEMP', 'FAILED', 'ROLLED_BACK'],
    });
    const delivered = tacker.deliveries().filter((delivery) => delivery.callbackUri === orchestratorCallback() && delivery.kind === 'notification');
    const instantiations = tacker.opOccs().filter((occ) => occ.operation === 'INSTANTIATE').map((occ) => occ.id).sort();
    expect(delivered.map((delivery) => delivery.body?.vnfLcmOpOccId).sort()).to.deep.equal(instantiations);
    expect(delivered.map((delivery) => delivery.status)).to.deep.equal(delivered.map(() => 204));
    expect(operationEnds(done)).to.deep.equal(["Tacker's notification, confirmed by a read", "Tacker's notification, confirmed by a read"]);

    // Tacker's notifications for the CNF reach the plugin too; its pods are not Nova servers, so only the VM gets an inject job.
    const injections = (await service.request<{ items: JobView[] }>('GET', '/v1/injections?kind=inject&limit=100')).body.items;
    expect(injections.map((job) => job.state)).to.deep.equal(['succeeded']);

    const { body: status } = await service.request<ServiceStatus>('GET', '/v1/orchestrator/services/shop');
    expect(status.problem, JSON.stringify(status)).to.equal(undefined);
    expect(status.microservices.map((microservice) => [microservice.name, microservice.ready])).to.deep.equal([['frontend', true], ['catalog-vm', true], ['catalog-cnf', true]]);
  });

  it('shifts the canary to the CNF 50/50 by changing only the VirtualService', async function () {
    const planned = await plan(shopDescriptor({ split: { v1: 50, v2: 50 } }));
    expect(planned.objects).to.deep.include({ create: [], update: ['VirtualService/shop/catalog'], delete: [] });
    expect(planned.vnfs.map((change) => change.action)).to.deep.equal(['none', 'none']);
    const operationsBefore = tacker.opOccs().length;
    await deploy(shopDescriptor({ split: { v1: 50, v2: 50 } }));
    expect(tacker.opOccs().length, 'no Tacker operation for a traffic change').to.equal(operationsBefore);
    const route = kube.object('virtualservices', 'shop', 'catalog')?.spec as { http: Array<{ route: Array<{ weight?: number }> }> };
    expect(route.http.find((rule) => rule.route.length === 2)?.route.map((target) => target.weight)).to.deep.equal([50, 50]);
  });

  it('scales the CNF 1 → 2 pods through Tacker, as the plan says, even with its notification lost', async function () {
    const scaled = shopDescriptor({ split: { v1: 50, v2: 50 }, cnfReplicas: 2 });
    const planned = await plan(scaled);
    expect(planned.text).to.include('~ CNF shop-catalog-cnf: scale from 1 to 2 pod(s)');
    // As when the service is restarting while Tacker sends: v2 never sends a notification again.
    tacker.suspendNotifications();
    const done = await deploy(scaled).finally(() => tacker.resumeNotifications());
    expect(operationEnds(done), 'reconciled from Tacker after apiReadInterval').to.deep.equal(["read from Tacker's API"]);
    const scales = tacker.opOccs().filter((occ) => occ.operation === 'SCALE' && occ.vnfInstanceId === cnfInstance()?.id);
    expect(scales.map((occ) => occ.operationState)).to.deep.equal(['COMPLETED']);
    expect(podsOf('catalog-cnf')).to.have.length(2);
    expect(cnfInstance()?.vnfcs.map((vnfc) => vnfc.serverId).sort()).to.deep.equal(podsOf('catalog-cnf'));
    expect((kube.object('deployments', 'shop', 'frontend')?.spec as { replicas: number }).replicas, 'the direct container untouched').to.equal(1);
  });

  it('tears down: nothing left in Tacker, the cluster or the mesh registry', async function () {
    const { status, body } = await service.request<DeploymentView>('DELETE', '/v1/orchestrator/services/shop');
    expect(status).to.equal(202);
    const done = await waitForDeployment(body.id);
    expect(done.state, JSON.stringify(done.lastError)).to.equal('succeeded');
    expect(tacker.vnfInstances()).to.deep.equal([]);
    expect(vmsByServer.size).to.equal(0);
    expect(kube.object('namespaces', '', 'shop')).to.equal(undefined);
    for (const plural of ['deployments', 'pods', 'services', 'workloadentries', 'workloadgroups', 'virtualservices', 'destinationrules', 'peerauthentications', 'authorizationpolicies'] satisfies SimResource[]) {
      expect(kube.objects(plural, 'shop'), plural).to.deep.equal([]);
    }
  });
});
