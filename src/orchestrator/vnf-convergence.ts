import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import type { NormalizedVnfInstance } from '../tacker/vnf-instance.js';
import { vnfInstanceNameOf, type ServiceDescriptor, type TackerMicroservice } from './service-descriptor.js';
import type { AcceptedOperation, OperationNotifications, VnfLifecycle } from './vnf-lifecycle-port.js';

export type { VnfLifecycle } from './vnf-lifecycle-port.js';

export interface VnfConvergenceContext {
  tacker: VnfLifecycle;
  clock: Clock;
  signal: AbortSignal;
  pollIntervalMs: number;
  /** Bounds each Tacker operation, from its start. */
  operationTimeoutMs: number;
  /** Tacker's result notifications, when the orchestrator's subscription is in place; polling alone otherwise. */
  notifications?: OperationNotifications;
  appendLog(line: string): void;
}

/** One VM microservice or CNF as Tacker runs it. */
export interface DeployedVnf {
  microservice: string;
  vnfInstanceId: string;
  vnfInstanceName: string;
  /** Nova server IDs of a VNF; pod names of a CNF (Tacker's vnfcResourceInfo resourceId for a Kubernetes VIM). */
  serverIds: string[];
}

/** What convergence needs of a microservice, whether Tacker runs it as VMs or as pods. */
interface TackerWorkload {
  name: string;
  /** VMs or pods. */
  unit: string;
  vdus: string[] | undefined;
  count: number;
  scalingAspectId: string | undefined;
}

function workloadOf(microservice: TackerMicroservice): TackerWorkload {
  if (microservice.kind === 'vm') return { name: microservice.name, unit: 'VMs', vdus: microservice.vdus, count: microservice.instances, scalingAspectId: microservice.scalingAspectId };
  return { name: microservice.name, unit: 'pods', vdus: [microservice.tacker.vduId], count: microservice.replicas, scalingAspectId: microservice.tacker.scalingAspectId };
}

/** The microservice's wanted count: VMs of a VNF, pods of a CNF. */
export function wantedCount(microservice: TackerMicroservice): number {
  return workloadOf(microservice).count;
}

// A scale that does not move the VM count toward the target (a VNFD whose aspect adds more than
// one VM per step, or a VDU filter that hides the new VMs) would otherwise loop.
const MAX_SCALE_OPERATIONS = 20;

/** The VMs (or a CNF's pods) of the microservice: the VDUs it names, or all. */
export function serversOf(instance: NormalizedVnfInstance, microservice: TackerMicroservice): string[] {
  const { vdus } = workloadOf(microservice);
  return instance.vnfcs.filter((vnfc) => vdus === undefined || vdus.includes(vnfc.vduId)).map((vnfc) => vnfc.serverId).sort();
}

async function runOperation(context: VnfConvergenceContext, vnfInstanceId: string, start: () => Promise<AcceptedOperation>, what: string): Promise<NormalizedVnfInstance> {
  const operation = await start();
  context.appendLog(`vnfs: ${what} (operation ${operation.vnfLcmOpOccId})`);
  const end = await context.tacker.waitForOperation(operation, {
    clock: context.clock,
    signal: context.signal,
    pollIntervalMs: context.pollIntervalMs,
    deadlineMs: context.clock.now() + context.operationTimeoutMs,
    ...(context.notifications === undefined ? {} : { notifications: context.notifications }),
  });
  context.appendLog(`vnfs: operation ${operation.vnfLcmOpOccId} completed (${end.notified ? "Tacker's notification, confirmed by a read" : "read from Tacker's API"})`);
  return context.tacker.getVnfInstance(vnfInstanceId);
}

/** The instance by its deterministic name: a re-run or a resumed job finds it instead of creating a second one. */
export async function findVnfInstance(tacker: VnfLifecycle, vnfInstanceName: string): Promise<NormalizedVnfInstance | undefined> {
  const found = await tacker.listVnfInstancesNamed(vnfInstanceName);
  if (found.length > 1) {
    throw new AppError('CONFLICT', `Tacker has ${found.length} VNF instances named ${vnfInstanceName}; remove the extra ones.`, {
      details: { vnfInstanceName, vnfInstanceIds: found.map((instance) => instance.id) },
    });
  }
  return found[0];
}

async function scaleToTarget(context: VnfConvergenceContext, instance: NormalizedVnfInstance, microservice: TackerMicroservice): Promise<NormalizedVnfInstance> {
  const wanted = workloadOf(microservice);
  let current = instance;
  for (let operations = 0; serversOf(current, microservice).length !== wanted.count; operations += 1) {
    const count = serversOf(current, microservice).length;
    if (wanted.scalingAspectId === undefined) {
      throw new AppError('INVALID_SPEC', `${wanted.name} has ${count} ${wanted.unit} and wants ${wanted.count}, but names no scalingAspectId.`, { details: { microservice: wanted.name } });
    }
    if (operations >= MAX_SCALE_OPERATIONS) {
      throw new AppError('CONFLICT', `${wanted.name} still has ${count} ${wanted.unit} after ${operations} scale operations; check the VNFD's scaling aspect.`, { details: { microservice: wanted.name } });
    }
    const type = count < wanted.count ? 'SCALE_OUT' : 'SCALE_IN';
    const aspectId = wanted.scalingAspectId;
    current = await runOperation(context, current.id, () => context.tacker.scaleVnf(current.id, { type, aspectId, numberOfSteps: 1 }), `${type} ${wanted.name} from ${count} ${wanted.unit} toward ${wanted.count}`);
  }
  return current;
}

/**
 * Brings one VM microservice or CNF to its descriptor: the instance exists, is instantiated (with
 * the meshSidecar parameters, or a CNF's definition files), and has the wanted number of VMs or
 * pods. Tacker ends a CNF's operation only when its pods are ready, so COMPLETED means up. Each Tacker answer is
 * read again rather than assumed, so the function converges from any point a crash left it at.
 */
export async function convergeVnf(context: VnfConvergenceContext, descriptor: ServiceDescriptor, microservice: TackerMicroservice): Promise<DeployedVnf> {
  const vnfInstanceName = vnfInstanceNameOf(descriptor, microservice);
  let instance = await findVnfInstance(context.tacker, vnfInstanceName);
  if (instance === undefined) {
    instance = await context.tacker.createVnfInstance(descriptor, microservice);
    context.appendLog(`vnfs: created VNF instance ${instance.id} (${vnfInstanceName})`);
  }
  const id = instance.id;
  if (instance.instantiationState === 'NOT_INSTANTIATED') {
    instance = await runOperation(context, id, () => context.tacker.instantiateVnf(id, descriptor, microservice), `instantiating ${vnfInstanceName}`);
  }
  instance = await scaleToTarget(context, instance, microservice);
  return { microservice: microservice.name, vnfInstanceId: instance.id, vnfInstanceName, serverIds: serversOf(instance, microservice) };
}

/** Terminate (if instantiated) and delete; a VNF already gone is fine. */
export async function removeVnf(context: VnfConvergenceContext, vnfInstanceName: string): Promise<string | undefined> {
  const instance = await findVnfInstance(context.tacker, vnfInstanceName);
  if (instance === undefined) return undefined;
  if (instance.instantiationState === 'INSTANTIATED') {
    await runOperation(context, instance.id, () => context.tacker.terminateVnf(instance.id), `terminating ${vnfInstanceName}`);
  }
  await context.tacker.deleteVnfInstance(instance.id);
  context.appendLog(`vnfs: deleted VNF instance ${instance.id} (${vnfInstanceName})`);
  return instance.id;
}
