import { expect } from 'chai';
import { unreachable } from '../../test/support/full-app.js';
import { systemClock } from '../clock.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { JobStore } from '../jobs/job-store.js';
import type { NormalizedVnfInstance } from '../tacker/vnf-instance.js';
import { instantiateVnfRequest } from '../tacker/tacker-vnf-lifecycle.js';
import type { ClusterObjects } from './cluster-objects.js';
import type { OrchestratorInbox } from './orchestrator-inbox.js';
import { OrchestratorService } from './orchestrator-service.js';
import { parseServiceDescriptor, type ServiceDescriptor, type ServiceDescriptorInput, type TackerMicroservice } from './service-descriptor.js';
import { convergeVnf, type VnfConvergenceContext } from './vnf-convergence.js';
import type { AcceptedOperation, OperationEnd, VnfLifecycle } from './vnf-lifecycle-port.js';

function descriptor(replicas: number): ServiceDescriptor {
  const input: ServiceDescriptorInput = {
    apiVersion: 'vmsi.dev/v1alpha1',
    kind: 'MeshService',
    metadata: { name: 'shop' },
    spec: {
      microservices: [
        {
          name: 'catalog-cnf',
          service: 'catalog',
          kind: 'container',
          version: 'v2',
          image: 'registry.example/catalog:2.0',
          replicas,
          via: 'tacker',
          tacker: { vnfdId: 'cnf-vnfd', flavourId: 'simple', vimId: 'k8s-vim', vduId: 'VDU1', scalingAspectId: 'vdu1_aspect' },
          ports: [{ name: 'http', port: 8080, protocol: 'HTTP' }],
        },
      ],
    },
  };
  return parseServiceDescriptor(input);
}

/** Tacker as the port sees it: one instance per name, operations that complete at once, one pod per scale step. */
class FakeTacker implements VnfLifecycle {
  readonly requests: string[] = [];
  private readonly instances = new Map<string, NormalizedVnfInstance>();
  private pods = 0;

  listVnfInstancesNamed(vnfInstanceName: string): Promise<NormalizedVnfInstance[]> {
    return Promise.resolve([...this.instances.values()].filter((instance) => instance.vnfInstanceName === vnfInstanceName).map((instance) => structuredClone(instance)));
  }

  createVnfInstance(described: ServiceDescriptor, microservice: TackerMicroservice): Promise<NormalizedVnfInstance> {
    const instance: NormalizedVnfInstance = { id: `id-${microservice.name}`, vnfdId: 'cnf-vnfd', vnfInstanceName: `${described.metadata.name}-${microservice.name}`, instantiationState: 'NOT_INSTANTIATED', vnfcs: [] };
    this.instances.set(instance.id, instance);
    this.requests.push('create');
    return Promise.resolve(structuredClone(instance));
  }

  getVnfInstance(vnfInstanceId: string): Promise<NormalizedVnfInstance> {
    return Promise.resolve(structuredClone(this.instance(vnfInstanceId)));
  }

  instantiateVnf(vnfInstanceId: string, described: ServiceDescriptor, microservice: TackerMicroservice): Promise<AcceptedOperation> {
    const request = instantiateVnfRequest(described, microservice);
    this.requests.push(`instantiate ${String(request.vimConnectionInfo?.vim1?.vimType)} ${JSON.stringify(request.additionalParams['lcm-kubernetes-def-files'])}`);
    const instance = this.instance(vnfInstanceId);
    instance.instantiationState = 'INSTANTIATED';
    instance.vnfcs = [this.pod()];
    return Promise.resolve({ vnfLcmOpOccId: `op-${this.requests.length}` });
  }

  scaleVnf(vnfInstanceId: string, request: { type: 'SCALE_OUT' | 'SCALE_IN'; aspectId: string; numberOfSteps: number }): Promise<AcceptedOperation> {
    this.requests.push(`${request.type} ${request.aspectId} ${request.numberOfSteps}`);
    const instance = this.instance(vnfInstanceId);
    instance.vnfcs = request.type === 'SCALE_OUT' ? [...instance.vnfcs, this.pod()] : instance.vnfcs.slice(1);
    return Promise.resolve({ vnfLcmOpOccId: `op-${this.requests.length}` });
  }

  terminateVnf(): Promise<AcceptedOperation> {
    return Promise.reject(new Error('not part of this test'));
  }

  deleteVnfInstance(): Promise<boolean> {
    return Promise.reject(new Error('not part of this test'));
  }

  waitForOperation(): Promise<OperationEnd> {
    return Promise.resolve({ notified: false });
  }

  private instance(id: string): NormalizedVnfInstance {
    const instance = this.instances.get(id);
    if (instance === undefined) throw new Error(`no instance ${id}`);
    return instance;
  }

  private pod(): NormalizedVnfInstance['vnfcs'][number] {
    this.pods += 1;
    const name = `catalog-cnf-5d8f7c9b4-pod${this.pods}`;
    return { vnfcId: name, vduId: 'VDU1', serverId: name, vimLevelResourceType: 'Deployment' };
  }
}

const EMPTY_CLUSTER: ClusterObjects = {
  apply: (object) => Promise.resolve(object),
  get: () => Promise.resolve(undefined),
  list: () => Promise.resolve([]),
  delete: () => Promise.resolve(false),
};

function orchestrator(tacker: FakeTacker): OrchestratorService {
  return new OrchestratorService({
    runner: unreachable<JobRunner>('the job runner'),
    store: unreachable<JobStore>('the job store'),
    events: unreachable<OrchestratorInbox>('the event store'),
    cluster: EMPTY_CLUSTER,
    tacker: () => Promise.resolve(tacker),
  });
}

function context(tacker: FakeTacker, log: string[]): VnfConvergenceContext {
  return { tacker, clock: systemClock, signal: new AbortController().signal, pollIntervalMs: 1, operationTimeoutMs: 1_000, appendLog: (line) => log.push(line) };
}

describe('a container microservice through Tacker (CNF) in the orchestrator', function () {
  it('converges like a VNF: create, instantiate on the Kubernetes VIM with the definition files, scale one pod per step', async function () {
    const tacker = new FakeTacker();
    const log: string[] = [];
    const wanted = descriptor(3);
    const [microservice] = wanted.spec.microservices as TackerMicroservice[];
    if (microservice === undefined) throw new Error('no microservice');
    const deployed = await convergeVnf(context(tacker, log), wanted, microservice);
    expect(tacker.requests).to.deep.equal([
      'create',
      'instantiate ETSINFV.KUBERNETES.V_1 ["Files/kubernetes/catalog-cnf-deployment.yaml"]',
      'SCALE_OUT vdu1_aspect 1',
      'SCALE_OUT vdu1_aspect 1',
    ]);
    expect(deployed).to.deep.include({ microservice: 'catalog-cnf', vnfInstanceName: 'shop-catalog-cnf' });
    expect(deployed.serverIds).to.have.length(3);
    expect(log.join('\n')).to.include('SCALE_OUT catalog-cnf from 2 pods toward 3');

    const [fewer] = descriptor(1).spec.microservices as TackerMicroservice[];
    if (fewer === undefined) throw new Error('no microservice');
    const again = await convergeVnf(context(tacker, log), descriptor(1), fewer);
    expect(tacker.requests.slice(4)).to.deep.equal(['SCALE_IN vdu1_aspect 1', 'SCALE_IN vdu1_aspect 1']);
    expect(again.serverIds).to.have.length(1);
  });

  it('plans a CNF as it plans a VNF: create, then scale in pods, then nothing; never as a Deployment of its own', async function () {
    const tacker = new FakeTacker();
    const service = orchestrator(tacker);
    const first = await service.plan(descriptor(2));
    expect(first.vnfs).to.deep.equal([{ microservice: 'catalog-cnf', kind: 'cnf', vnfInstanceName: 'shop-catalog-cnf', action: 'create', from: 0, to: 2 }]);
    expect(first.text).to.include('+ CNF shop-catalog-cnf: create and instantiate with 2 pod(s)');
    expect(first.objects.create).to.not.include('Deployment/shop/catalog-cnf');

    const [microservice] = descriptor(1).spec.microservices as TackerMicroservice[];
    if (microservice === undefined) throw new Error('no microservice');
    await convergeVnf(context(tacker, []), descriptor(1), microservice);
    const scale = await service.plan(descriptor(2));
    expect(scale.vnfs.map((change) => [change.action, change.from, change.to])).to.deep.equal([['scale', 1, 2]]);
    expect(scale.text).to.include('~ CNF shop-catalog-cnf: scale from 1 to 2 pod(s)');
    const none = await service.plan(descriptor(1));
    expect(none.vnfs.map((change) => change.action)).to.deep.equal(['none']);
    expect(none.text).to.not.include('CNF');
  });
});
