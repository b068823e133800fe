import type { Clock } from '../clock.js';
import type { NormalizedVnfInstance } from '../tacker/vnf-instance.js';
import type { ServiceDescriptor, TackerMicroservice } from './service-descriptor.js';

/** An LCM operation the VNFM accepted; it runs until waitForOperation sees it end. */
export interface AcceptedOperation {
  vnfLcmOpOccId: string;
}

/**
 * Tacker's notifications of operation results, where the orchestrator subscribed to them: the wait
 * looks at these at every poll (a read of its own inbox), and reads Tacker's API when a new result
 * arrives or, to make up for a notification that never came, every apiReadIntervalMs.
 */
export interface OperationNotifications {
  /** The newest result notified for the occurrence as a token that changes with each new result; undefined while none came. */
  latestResult(vnfLcmOpOccId: string): Promise<string | undefined>;
  /** Resolves when a result for the occurrence arrives at this replica, or when `signal` aborts. */
  arrival(vnfLcmOpOccId: string, signal: AbortSignal): Promise<void>;
  apiReadIntervalMs: number;
}

export interface OperationWait {
  clock: Clock;
  signal?: AbortSignal;
  /** Between two looks: at Tacker's API, or at the inbox when `notifications` is given. */
  pollIntervalMs: number;
  /** Absolute epoch milliseconds on `clock`. */
  deadlineMs: number;
  notifications?: OperationNotifications;
}

/** How the wait learned that the operation completed: from a notification, or by reading Tacker alone. */
export interface OperationEnd {
  notified: boolean;
}

/**
 * Port: the orchestrator's view of the VNFM that runs its VM microservices and CNFs. It speaks in
 * descriptors and microservices; how they become SOL 003 requests (the meshSidecar parameters, a
 * CNF's Kubernetes VIM and definition files, the instance name and description) is the adapter's
 * business (src/tacker/tacker-vnf-lifecycle.ts).
 * Errors are AppErrors; a failed operation is non-retryable, a deadline passed is retryable.
 */
export interface VnfLifecycle {
  /** Every instance with this name; more than one is a conflict the caller reports. */
  listVnfInstancesNamed(vnfInstanceName: string): Promise<NormalizedVnfInstance[]>;
  createVnfInstance(descriptor: ServiceDescriptor, microservice: TackerMicroservice): Promise<NormalizedVnfInstance>;
  getVnfInstance(vnfInstanceId: string): Promise<NormalizedVnfInstance>;
  instantiateVnf(vnfInstanceId: string, descriptor: ServiceDescriptor, microservice: TackerMicroservice): Promise<AcceptedOperation>;
  scaleVnf(vnfInstanceId: string, request: { type: 'SCALE_OUT' | 'SCALE_IN'; aspectId: string; numberOfSteps: number }): Promise<AcceptedOperation>;
  /** Forceful: the microservice's VMs leave the mesh through the injector, not through the VNF's own shutdown; a CNF's pods are deleted with its objects. */
  terminateVnf(vnfInstanceId: string): Promise<AcceptedOperation>;
  deleteVnfInstance(vnfInstanceId: string): Promise<boolean>;
  waitForOperation(operation: AcceptedOperation, wait: OperationWait): Promise<OperationEnd>;
}
