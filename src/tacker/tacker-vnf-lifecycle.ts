import { MESH_PARAMETERS_KEY } from './mesh-parameters.js';
import type { TackerClient } from './tacker-client.js';
import type { NormalizedVnfInstance } from './vnf-instance.js';
import { waitForLcmOpOcc } from './vnf-lifecycle.js';
import { buildEqFilter } from './vnf-lifecycle-filter.js';
import type { CreateVnfRequest, InstantiateVnfRequest } from './vnf-lifecycle-requests.js';
import { meshSidecarParameters, vnfInstanceNameOf, type ServiceDescriptor, type VmMicroservice } from '../orchestrator/service-descriptor.js';
import type { AcceptedOperation, OperationWait, VnfLifecycle } from '../orchestrator/vnf-lifecycle-port.js';

export function createVnfRequest(descriptor: ServiceDescriptor, microservice: VmMicroservice): CreateVnfRequest & { vnfInstanceName: string } {
  return {
    vnfdId: microservice.vnfdId,
    vnfInstanceName: vnfInstanceNameOf(descriptor, microservice),
    vnfInstanceDescription: `Microservice ${microservice.name} (service ${microservice.service}, version ${microservice.version}) of ${descriptor.metadata.name}`,
  };
}

export function instantiateVnfRequest(descriptor: ServiceDescriptor, microservice: VmMicroservice): InstantiateVnfRequest & { additionalParams: Record<string, unknown> } {
  return {
    flavourId: microservice.flavourId,
    ...(microservice.instantiationLevelId === undefined ? {} : { instantiationLevelId: microservice.instantiationLevelId }),
    additionalParams: { ...microservice.additionalParams, [MESH_PARAMETERS_KEY]: meshSidecarParameters(descriptor, microservice) },
  };
}

type VnfClient = Pick<
  TackerClient,
  'listVnfInstances' | 'createVnfInstance' | 'getVnfInstance' | 'instantiateVnf' | 'scaleVnf' | 'terminateVnf' | 'deleteVnfInstance' | 'getLcmOpOcc'
>;

/** Adapter: the orchestrator's VnfLifecycle port over Tacker's v2 SOL 003 API. */
export class TackerVnfLifecycle implements VnfLifecycle {
  constructor(private readonly client: VnfClient) {}

  listVnfInstancesNamed(vnfInstanceName: string): Promise<NormalizedVnfInstance[]> {
    return this.client.listVnfInstances({ filter: buildEqFilter('vnfInstanceName', vnfInstanceName) });
  }

  createVnfInstance(descriptor: ServiceDescriptor, microservice: VmMicroservice): Promise<NormalizedVnfInstance> {
    return this.client.createVnfInstance(createVnfRequest(descriptor, microservice));
  }

  getVnfInstance(vnfInstanceId: string): Promise<NormalizedVnfInstance> {
    return this.client.getVnfInstance(vnfInstanceId);
  }

  instantiateVnf(vnfInstanceId: string, descriptor: ServiceDescriptor, microservice: VmMicroservice): Promise<AcceptedOperation> {
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

  async waitForOperation(operation: AcceptedOperation, wait: OperationWait): Promise<void> {
    await waitForLcmOpOcc(this.client, operation.vnfLcmOpOccId, wait);
  }
}
