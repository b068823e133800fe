import { MESH_PARAMETERS_KEY } from './mesh-parameters.js';
import type { TackerClient } from './tacker-client.js';
import type { NormalizedVnfInstance } from './vnf-instance.js';
import { waitForLcmOpOccEnd } from './vnf-lifecycle.js';
import { buildEqFilter } from './vnf-lifecycle-filter.js';
import type { CreateVnfRequest, InstantiateVnfRequest } from './vnf-lifecycle-requests.js';
import { cnfDeploymentFilePath } from '../orchestrator/cnf-package.js';
import {
  meshSidecarParameters,
  vnfInstanceNameOf,
  type CnfMicroservice,
  type ServiceDescriptor,
  type TackerMicroservice,
  type VmMicroservice,
} from '../orchestrator/service-descriptor.js';
import type { AcceptedOperation, OperationEnd, OperationWait, VnfLifecycle } from '../orchestrator/vnf-lifecycle-port.js';

/** vimType of a Kubernetes VIM in SOL 003 vimConnectionInfo (Tacker v2 also accepts its own `kubernetes`). */
export const KUBERNETES_VIM_TYPE = 'ETSINFV.KUBERNETES.V_1';
/** Tacker's additionalParams key listing a CNF's Kubernetes object files in the package, in creation order. */
export const KUBERNETES_DEF_FILES_KEY = 'lcm-kubernetes-def-files';
// The key of the one vimConnectionInfo entry; SOL 003 lets the consumer pick it.
const CNF_VIM_CONNECTION = 'vim1';

export function createVnfRequest(descriptor: ServiceDescriptor, microservice: TackerMicroservice): CreateVnfRequest & { vnfInstanceName: string } {
  const what = microservice.kind === 'vm' ? 'Microservice' : 'Container microservice';
  return {
    vnfdId: microservice.kind === 'vm' ? microservice.vnfdId : microservice.tacker.vnfdId,
    vnfInstanceName: vnfInstanceNameOf(descriptor, microservice),
    vnfInstanceDescription: `${what} ${microservice.name} (service ${microservice.service}, version ${microservice.version}) of ${descriptor.metadata.name}`,
  };
}

export function instantiateVnfRequest(descriptor: ServiceDescriptor, microservice: TackerMicroservice): InstantiateVnfRequest & { additionalParams: Record<string, unknown> } {
  return microservice.kind === 'vm' ? instantiateVmsRequest(descriptor, microservice) : instantiateCnfRequest(descriptor, microservice);
}

function instantiateVmsRequest(descriptor: ServiceDescriptor, microservice: VmMicroservice): InstantiateVnfRequest & { additionalParams: Record<string, unknown> } {
  return {
    flavourId: microservice.flavourId,
    ...(microservice.instantiationLevelId === undefined ? {} : { instantiationLevelId: microservice.instantiationLevelId }),
    additionalParams: { ...microservice.additionalParams, [MESH_PARAMETERS_KEY]: meshSidecarParameters(descriptor, microservice) },
  };
}

/**
 * Tacker v2's CNF instantiate (doc/source/user/v2/cnf/deployment): the Kubernetes VIM by ID (its
 * credentials stay in Tacker), the definition files, and the descriptor's namespace, which takes
 * priority over the manifests' own. The namespace exists already, labelled for Istio injection, so
 * the pods Tacker creates get their sidecars from Istio; no meshSidecar parameters are sent.
 */
function instantiateCnfRequest(descriptor: ServiceDescriptor, microservice: CnfMicroservice): InstantiateVnfRequest & { additionalParams: Record<string, unknown> } {
  const { tacker } = microservice;
  return {
    flavourId: tacker.flavourId,
    ...(tacker.instantiationLevelId === undefined ? {} : { instantiationLevelId: tacker.instantiationLevelId }),
    vimConnectionInfo: { [CNF_VIM_CONNECTION]: { vimId: tacker.vimId, vimType: KUBERNETES_VIM_TYPE } },
    additionalParams: { [KUBERNETES_DEF_FILES_KEY]: [cnfDeploymentFilePath(microservice)], namespace: descriptor.metadata.namespace },
  };
}

type VnfClient = Pick<
  TackerClient,
  'listVnfInstances' | 'createVnfInstance' | 'getVnfInstance' | 'instantiateVnf' | 'scaleVnf' | 'terminateVnf' | 'deleteVnfInstance' | 'getLcmOpOcc'
>;

/** Adapter: the orchestrator's VnfLifecycle port over Tacker's v2 SOL 003 API, for VNFs and CNFs alike. */
export class TackerVnfLifecycle implements VnfLifecycle {
  constructor(private readonly client: VnfClient) {}

  listVnfInstancesNamed(vnfInstanceName: string): Promise<NormalizedVnfInstance[]> {
    return this.client.listVnfInstances({ filter: buildEqFilter('vnfInstanceName', vnfInstanceName) });
  }

  createVnfInstance(descriptor: ServiceDescriptor, microservice: TackerMicroservice): Promise<NormalizedVnfInstance> {
    return this.client.createVnfInstance(createVnfRequest(descriptor, microservice));
  }

  getVnfInstance(vnfInstanceId: string): Promise<NormalizedVnfInstance> {
    return this.client.getVnfInstance(vnfInstanceId);
  }

  instantiateVnf(vnfInstanceId: string, descriptor: ServiceDescriptor, microservice: TackerMicroservice): Promise<AcceptedOperation> {
    return this.client.instantiateVnf(vnfInstanceId, instantiateVnfRequest(descriptor, microservice));
  }

  scaleVnf(vnfInstanceId: string, request: { type: 'SCALE_OUT' | 'SCALE_IN'; aspectId: string; numberOfSteps: number }): Promise<AcceptedOperation> {
    return this.client.scaleVnf(vnfInstanceId, request);
  }

  terminateVnf(vnfInstanceId: string): Promise<AcceptedOperation> {
    return this.client.terminateVnf(vnfInstanceId, { terminationType: 'FORCEFUL' });
  }

  deleteVnfInstance(vnfInstanceId: string): Promise<boolean> {
    return this.client.deleteVnfInstance(vnfInstanceId);
  }

  async waitForOperation(operation: AcceptedOperation, wait: OperationWait): Promise<OperationEnd> {
    const { notified } = await waitForLcmOpOccEnd(this.client, operation.vnfLcmOpOccId, wait);
    return { notified };
  }
}
