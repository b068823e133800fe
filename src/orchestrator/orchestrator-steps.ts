import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import type { JsonObject, JsonValue } from '../jobs/job.js';
import { retryPolicy, type StepPolicy } from '../retry/retry-policy.js';
import type { StepContext, StepDefinition, StepDefinitions } from '../jobs/step-definition.js';
import { MANAGED_BY, MANAGED_BY_LABEL, SERVER_ID_LABEL, VNF_INSTANCE_ID_LABEL } from '../mesh/workload-objects.js';
import type { ClusterObjects, KubeKind } from './cluster-objects.js';
import { planChanges } from './deployment-plan.js';
import { desiredObjects, SERVICE_LABEL } from './desired-objects.js';
import type { OrchestratorInbox, ReceivedInjectionEvent } from './orchestrator-inbox.js';
import { objectKey, type KubeObject } from './kube-object.js';
import { parseServiceDescriptor, tackerMicroservicesOf, type ServiceDescriptor } from './service-descriptor.js';
import { convergeVnf, removeVnf, type DeployedVnf, type VnfConvergenceContext, type VnfLifecycle } from './vnf-convergence.js';
import type { OperationNotifications } from './vnf-lifecycle-port.js';

/** Every kind the orchestrator writes, as the cluster serves it; the order is the apply order. */
export const ORCHESTRATED_KINDS: readonly KubeKind[] = [
  { apiVersion: 'v1', kind: 'Namespace' },
  { apiVersion: 'v1', kind: 'ServiceAccount' },
  { apiVersion: 'v1', kind: 'Service' },
  { apiVersion: 'apps/v1', kind: 'Deployment' },
  { apiVersion: 'networking.istio.io/v1', kind: 'WorkloadGroup' },
  { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule' },
  { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService' },
  { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication' },
  { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy' },
];
const IDENTITY_KINDS = ['Namespace', 'ServiceAccount'];
const WORKLOAD_KINDS = ['Service', 'Deployment', 'WorkloadGroup'];
const TRAFFIC_KINDS = ['DestinationRule', 'VirtualService', 'PeerAuthentication', 'AuthorizationPolicy'];
const ALL_KINDS = ORCHESTRATED_KINDS.map((kind) => kind.kind);
const WORKLOAD_ENTRY: KubeKind = { apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry' };

export interface OrchestratorTiming {
  /** Between two reads of a Tacker operation. */
  pollIntervalMs: number;
  /** Bounds one Tacker operation (instantiate, scale, terminate). */
  operationTimeoutMs: number;
  /** How long a deployment waits for its VMs to be injected (or deregistered). */
  injectionTimeoutMs: number;
  /** How long a deployment waits for its containers to be ready. */
  readyTimeoutMs: number;
}

export interface OrchestratorDependencies {
  cluster: ClusterObjects;
  tacker: () => Promise<VnfLifecycle>;
  events: OrchestratorInbox;
  /** Runs a failed injection again (a re-run deployment after the operator fixed the cause); true when it started a new job. */
  reinject(failedJobId: string, idempotencyKey: string): Promise<boolean>;
  /**
   * Asks the Tacker plugin to read Tacker's operations since a time and act on those it missed:
   * Tacker v2 sends a notification once, so one that arrived while this service was down is lost.
   */
  reconcileTacker?(sinceIso: string): Promise<void>;
  /**
   * Tacker's operation results as the orchestrator's own subscription delivers them; undefined
   * when it has none (not configured, or Tacker refused it for now): operations are then polled.
   */
  operationNotifications?(): Promise<OperationNotifications | undefined>;
  /** What the injector is doing for a server right now, for progress messages; undefined when it knows nothing. */
  injectionProgress?(serverId: string): Promise<string | undefined>;
  clock: Clock;
  trustDomain?: string | undefined;
  timing: OrchestratorTiming;
}

/** A deployment or teardown: one job per run, serialized per service name. */
export function serviceSubject(name: string): string {
  return `service:${name}`;
}

export function descriptorOf(context: StepContext): ServiceDescriptor {
  return parseServiceDescriptor(context.job.input.descriptor);
}

function step(name: string, policy: StepPolicy, run: StepDefinition['run']): StepDefinition {
  return { name, policy, run };
}

/** What the cluster holds for this service among these kinds (every orchestrated kind when left out). */
export async function liveObjects(cluster: ClusterObjects, descriptor: ServiceDescriptor, options: { kinds?: readonly string[]; signal?: AbortSignal } = {}): Promise<KubeObject[]> {
  const labels = { [SERVICE_LABEL]: descriptor.metadata.name };
  const kinds = ORCHESTRATED_KINDS.filter((kind) => options.kinds === undefined || options.kinds.includes(kind.kind));
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  const lists = await Promise.all(kinds.map((kind) => cluster.list(kind, { ...(kind.kind === 'Namespace' ? {} : { namespace: descriptor.metadata.namespace }), labels, ...signal })));
  return lists.flat();
}

/**
 * A namespace that exists without our label belongs to someone else: it is used as it is and never
 * taken over, so a teardown cannot delete it with whatever else lives there.
 */
async function foreignNamespace(deps: OrchestratorDependencies, descriptor: ServiceDescriptor, signal: AbortSignal): Promise<KubeObject | undefined> {
  const existing = await deps.cluster.get({ apiVersion: 'v1', kind: 'Namespace', name: descriptor.metadata.namespace }, { signal });
  return existing !== undefined && existing.metadata.labels?.[SERVICE_LABEL] !== descriptor.metadata.name ? existing : undefined;
}

/** Applies what differs from the cluster among these kinds (server-side apply); the rest is not touched. */
async function applyKinds(context: StepContext, deps: OrchestratorDependencies, kinds: readonly string[]): Promise<JsonObject> {
  const descriptor = descriptorOf(context);
  let desired = desiredObjects(descriptor, { trustDomain: deps.trustDomain }).filter((object) => kinds.includes(object.kind));
  if (kinds.includes('Namespace') && (await foreignNamespace(deps, descriptor, context.signal)) !== undefined) {
    context.appendLog(`namespace: ${descriptor.metadata.namespace} exists and is not managed for ${descriptor.metadata.name}; used as it is`);
    desired = desired.filter((object) => object.kind !== 'Namespace');
  }
  const plan = planChanges(desired, await liveObjects(deps.cluster, descriptor, { kinds, signal: context.signal }));
  const changed = [...plan.create, ...plan.update.map((update) => update.desired)];
  for (const object of changed) {
    await deps.cluster.apply(object, { signal: context.signal });
    context.appendLog(`${context.stepName}: applied ${objectKey(object)}`);
  }
  return { created: plan.create.map((object) => objectKey(object)), updated: plan.update.map((update) => objectKey(update.desired)), unchanged: plan.unchanged.length };
}

/**
 * Everything labelled for this service that is no longer wanted, traffic rules first and the
 * namespace last: what the descriptor dropped, or with `keepDesired` false (teardown) all of it.
 */
async function deleteStale(context: StepContext, deps: OrchestratorDependencies, scope: { keepDesired: boolean; kinds: readonly string[] }): Promise<string[]> {
  const descriptor = descriptorOf(context);
  const desired = scope.keepDesired ? desiredObjects(descriptor, { trustDomain: deps.trustDomain }) : [];
  const live = await liveObjects(deps.cluster, descriptor, { kinds: scope.kinds, signal: context.signal });
  const { delete: stale } = planChanges(desired, live);
  for (const object of stale) {
    const { name, namespace } = object.metadata;
    await deps.cluster.delete({ apiVersion: object.apiVersion, kind: object.kind, name, ...(namespace === undefined ? {} : { namespace }) }, { signal: context.signal });
    context.appendLog(`${context.stepName}: deleted ${objectKey(object)}`);
  }
  return stale.map((object) => objectKey(object));
}

async function convergenceContext(context: StepContext, deps: OrchestratorDependencies): Promise<VnfConvergenceContext> {
  const tacker: VnfLifecycle = await deps.tacker();
  const notifications = await deps.operationNotifications?.();
  return {
    tacker,
    clock: deps.clock,
    signal: context.signal,
    pollIntervalMs: deps.timing.pollIntervalMs,
    operationTimeoutMs: deps.timing.operationTimeoutMs,
    ...(notifications === undefined ? {} : { notifications }),
    appendLog: (line) => context.appendLog(line),
  };
}

/**
 * Everything Tacker runs: VNFs (their VMs then wait for the injector, step `injection`) and CNFs
 * (up once Tacker's operation completed; their pods got sidecars from the namespace's injection).
 */
function vnfsStep(policy: StepPolicy, deps: OrchestratorDependencies): StepDefinition {
  return step('vnfs', policy, async (context) => {
    const descriptor = descriptorOf(context);
    const microservices = tackerMicroservicesOf(descriptor);
    // A service of containers only never needs Tacker, configured or not.
    if (microservices.length === 0) return { vnfs: [], cnfs: [] };
    const convergence = await convergenceContext(context, deps);
    const vnfs: DeployedVnf[] = [];
    const cnfs: DeployedVnf[] = [];
    for (const microservice of microservices) (microservice.kind === 'vm' ? vnfs : cnfs).push(await convergeVnf(convergence, descriptor, microservice));
    return { vnfs: vnfs.map((vnf) => ({ ...vnf })), cnfs: cnfs.map((cnf) => ({ ...cnf })) };
  });
}

export function deployedVnfsOf(context: StepContext): DeployedVnf[] {
  const output = context.outputs.vnfs;
  const vnfs = typeof output === 'object' && output !== null && !Array.isArray(output) ? output.vnfs : undefined;
  return Array.isArray(vnfs) ? (vnfs as unknown as DeployedVnf[]) : [];
}

function failedInjection(vnf: DeployedVnf, serverId: string, event: ReceivedInjectionEvent): AppError {
  const failure = event.failure;
  const where = failure === undefined ? '' : ` in step ${failure.step}: ${failure.code}: ${failure.message}`;
  return new AppError('INJECTION_FAILED', `VM ${event.vmName} (server ${serverId}) of ${vnf.microservice} failed injection${where}`, {
    details: { microservice: vnf.microservice, vnfInstanceId: vnf.vnfInstanceId, serverId, vmName: event.vmName, injectionJobId: event.jobId, ...(failure === undefined ? {} : { failure }) },
  });
}

const NO_INJECTION_YET = 'no injection job yet';
// Tacker's notification normally starts the injection within seconds of the operation's end.
const RECONCILE_AFTER_MS = 15_000;

/** Per VM: done, or what it waits for. A failure from before this run is retried once (the operator re-ran after a fix). */
async function injectionWaits(context: StepContext, deps: OrchestratorDependencies, vnf: DeployedVnf, events: Map<string, ReceivedInjectionEvent>): Promise<string[]> {
  const waits: string[] = [];
  for (const serverId of vnf.serverIds) {
    const event = events.get(serverId);
    if (event?.outcome === 'succeeded') continue;
    if (event?.outcome === 'failed') {
      if (event.time >= context.job.createdAt) throw failedInjection(vnf, serverId, event);
      if (await deps.reinject(event.jobId, `${context.job.id}:${event.jobId}`)) context.appendLog(`injection: re-running the failed injection ${event.jobId} of server ${serverId}`);
    }
    const progress = await deps.injectionProgress?.(serverId);
    waits.push(`${vnf.microservice} server ${serverId}: ${progress ?? NO_INJECTION_YET}`);
  }
  return waits;
}

/** Entries of this VNF for servers it no longer has: their removal (Tacker scale in, heal) is still under way. */
async function staleEntries(deps: OrchestratorDependencies, descriptor: ServiceDescriptor, vnf: DeployedVnf, signal: AbortSignal): Promise<string[]> {
  const entries = await deps.cluster.list(WORKLOAD_ENTRY, { namespace: descriptor.metadata.namespace, labels: { [VNF_INSTANCE_ID_LABEL]: vnf.vnfInstanceId, [MANAGED_BY_LABEL]: MANAGED_BY }, signal });
  return entries
    .filter((entry) => !vnf.serverIds.includes(entry.metadata.labels?.[SERVER_ID_LABEL] ?? ''))
    .map((entry) => `${vnf.microservice}: WorkloadEntry ${entry.metadata.name} of a removed VM is still registered`);
}

/** VMs with no injection job long after their operation: a lost notification, read back from Tacker. */
async function reconcileIfOverdue(context: StepContext, deps: OrchestratorDependencies): Promise<void> {
  const startedAt = context.job.steps.find((candidate) => candidate.name === context.stepName)?.startedAt ?? deps.clock.now();
  if (deps.reconcileTacker === undefined || deps.clock.now() - startedAt < RECONCILE_AFTER_MS) return;
  await deps.reconcileTacker(new Date(context.job.createdAt - 60_000).toISOString());
  context.appendLog('injection: VMs without an injection job; asked the Tacker plugin to reconcile missed notifications');
}

/**
 * Waits for the injector's events: every VM of every VNF injected (or failed: then the deployment
 * fails naming the VM, the step and the reason), and no entry left for a VM the VNF lost.
 */
function injectionStep(policy: StepPolicy, deps: OrchestratorDependencies): StepDefinition {
  return step('injection', policy, async (context) => {
    const descriptor = descriptorOf(context);
    const vnfs = deployedVnfsOf(context);
    const events = await deps.events.latestInjectionEvents(vnfs.flatMap((vnf) => vnf.serverIds));
    const waits: string[] = [];
    for (const vnf of vnfs) waits.push(...(await injectionWaits(context, deps, vnf, events)), ...(await staleEntries(deps, descriptor, vnf, context.signal)));
    if (waits.some((wait) => wait.endsWith(NO_INJECTION_YET))) await reconcileIfOverdue(context, deps);
    if (waits.length > 0) {
      const total = vnfs.reduce((sum, vnf) => sum + vnf.serverIds.length, 0);
      throw new AppError('DEPLOYMENT_WAITING', `Waiting for the mesh on ${waits.length} item(s) of ${total} VM(s): ${waits.join('; ')}`, { retryable: true, details: { waiting: waits } });
    }
    return { injected: vnfs.map((vnf) => ({ microservice: vnf.microservice, servers: vnf.serverIds.length })) };
  });
}

function trafficStep(policy: StepPolicy, deps: OrchestratorDependencies): StepDefinition {
  return step('traffic', policy, async (context) => {
    const applied = await applyKinds(context, deps, TRAFFIC_KINDS);
    return { ...applied, deleted: await deleteStale(context, deps, { keepDesired: true, kinds: ALL_KINDS }) };
  });
}

function deploymentReadiness(deployment: KubeObject): string | undefined {
  const spec = (deployment.spec ?? {}) as { replicas?: number };
  const status = (deployment.status ?? {}) as { readyReplicas?: number; observedGeneration?: number };
  const wanted = spec.replicas ?? 1;
  const generation = deployment.metadata.generation;
  if (typeof generation === 'number' && (status.observedGeneration ?? 0) < generation) return `Deployment ${deployment.metadata.name}: change not rolled out yet`;
  const ready = status.readyReplicas ?? 0;
  return ready >= wanted ? undefined : `Deployment ${deployment.metadata.name}: ${ready}/${wanted} pods ready`;
}

function readyStep(policy: StepPolicy, deps: OrchestratorDependencies): StepDefinition {
  return step('ready', policy, async (context) => {
    const descriptor = descriptorOf(context);
    const deployments = await deps.cluster.list({ apiVersion: 'apps/v1', kind: 'Deployment' }, { namespace: descriptor.metadata.namespace, labels: { [SERVICE_LABEL]: descriptor.metadata.name }, signal: context.signal });
    const waits = deployments.map(deploymentReadiness).filter((wait): wait is string => wait !== undefined);
    if (waits.length > 0) throw new AppError('DEPLOYMENT_WAITING', `Waiting for containers: ${waits.join('; ')}`, { retryable: true, details: { waiting: waits } });
    return { deployments: deployments.length, vms: deployedVnfsOf(context).reduce((sum, vnf) => sum + vnf.serverIds.length, 0) };
  });
}

/** The VNF instance names a teardown removes (every VM microservice and CNF any deployment of the service had). */
function teardownVnfNames(context: StepContext): string[] {
  const names = context.job.input.vnfInstanceNames;
  return Array.isArray(names) ? names.filter((name): name is string => typeof name === 'string') : [];
}

function teardownVnfsStep(policy: StepPolicy, deps: OrchestratorDependencies): StepDefinition {
  return step('vnfs', policy, async (context) => {
    const names = teardownVnfNames(context);
    if (names.length === 0) return { removed: [] };
    const convergence = await convergenceContext(context, deps);
    const removed: JsonValue[] = [];
    for (const name of names) {
      const id = await removeVnf(convergence, name);
      if (id !== undefined) removed.push({ vnfInstanceName: name, vnfInstanceId: id });
    }
    return { removed };
  });
}

function removedVnfIds(output: JsonValue | undefined): string[] {
  const removed = typeof output === 'object' && output !== null && !Array.isArray(output) ? output.removed : undefined;
  if (!Array.isArray(removed)) return [];
  return removed.flatMap((entry) => (typeof entry === 'object' && entry !== null && !Array.isArray(entry) && typeof entry.vnfInstanceId === 'string' ? [entry.vnfInstanceId] : []));
}

/** VMs leave the mesh through the injector (Tacker's notifications); their entries going is the proof. */
function deregistrationStep(policy: StepPolicy, deps: OrchestratorDependencies): StepDefinition {
  return step('deregistration', policy, async (context) => {
    const ids = removedVnfIds(context.outputs.vnfs);
    const { namespace } = descriptorOf(context).metadata;
    const left: string[] = [];
    for (const id of ids) {
      const entries = await deps.cluster.list(WORKLOAD_ENTRY, { namespace, labels: { [VNF_INSTANCE_ID_LABEL]: id }, signal: context.signal });
      left.push(...entries.map((entry) => entry.metadata.name));
    }
    if (left.length > 0) throw new AppError('DEPLOYMENT_WAITING', `Waiting for the injector to deregister ${left.join(', ')}`, { retryable: true, details: { waiting: left } });
    return { deregisteredVnfs: ids.length };
  });
}

function waitingPolicy(timeoutMs: number): StepPolicy {
  return { attemptTimeoutMs: 60_000, retry: retryPolicy({ maximumAttempts: 0, initialIntervalMs: 1_000, backoffCoefficient: 1.5, maximumIntervalMs: 5_000 }), deadlineMs: timeoutMs };
}

export function createOrchestratorSteps(deps: OrchestratorDependencies): StepDefinitions {
  const { timing } = deps;
  const apiPolicy: StepPolicy = { attemptTimeoutMs: 120_000, retry: retryPolicy({ maximumAttempts: 8, initialIntervalMs: 2_000 }), deadlineMs: 10 * 60_000 };
  const vnfPolicy: StepPolicy = { attemptTimeoutMs: timing.operationTimeoutMs * 4, retry: retryPolicy({ maximumAttempts: 6, initialIntervalMs: 5_000 }), deadlineMs: timing.operationTimeoutMs * 8 };
  return {
    deploy: [
      step('namespace', apiPolicy, (context) => applyKinds(context, deps, IDENTITY_KINDS)),
      step('workloads', apiPolicy, (context) => applyKinds(context, deps, WORKLOAD_KINDS)),
      vnfsStep(vnfPolicy, deps),
      injectionStep(waitingPolicy(timing.injectionTimeoutMs), deps),
      trafficStep(apiPolicy, deps),
      readyStep(waitingPolicy(timing.readyTimeoutMs), deps),
    ],
    teardown: [
      step('traffic', apiPolicy, async (context) => ({ deleted: await deleteStale(context, deps, { keepDesired: false, kinds: TRAFFIC_KINDS }) })),
      teardownVnfsStep(vnfPolicy, deps),
      deregistrationStep(waitingPolicy(timing.injectionTimeoutMs), deps),
      step('workloads', apiPolicy, async (context) => ({ deleted: await deleteStale(context, deps, { keepDesired: false, kinds: ALL_KINDS }) })),
    ],
  };
}
