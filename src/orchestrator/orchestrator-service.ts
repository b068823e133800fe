import { AppError } from '../errors.js';
import type { Job, JobState, JsonObject } from '../jobs/job.js';
import { MAX_LIST_LIMIT, SUBJECT_HOLDING_STATES, type JobStore } from '../jobs/job-store.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { ClusterObjects } from './cluster-objects.js';
import { formatPlan, planChanges, type DeploymentPlan } from './deployment-plan.js';
import { desiredObjects } from './desired-objects.js';
import type { OrchestratorInbox } from './orchestrator-inbox.js';
import { objectKey, type KubeObject } from './kube-object.js';
import { liveObjects, serviceSubject } from './orchestrator-steps.js';
import { vnfInstanceNameOf, parseServiceDescriptor, tackerMicroservicesOf, vmMicroservicesOf, type ServiceDescriptor, type VmMicroservice } from './service-descriptor.js';
import { findVnfInstance, serversOf, wantedCount, type VnfLifecycle } from './vnf-convergence.js';
import type { DeploymentView, MicroserviceStatus, OrchestrationPlan, ServiceStatus, ServiceSummary, VnfChange } from './orchestrator-views.js';

export interface OrchestratorServiceOptions {
  runner: JobRunner;
  store: JobStore;
  cluster: ClusterObjects;
  tacker: () => Promise<VnfLifecycle>;
  events: OrchestratorInbox;
  trustDomain?: string | undefined;
  /** The injector's newest job for a server, for status. */
  injectionJob?(serverId: string): Promise<{ id: string; state: JobState; step?: string } | undefined>;
}

export type { DeploymentView, MicroserviceStatus, OrchestrationPlan, ServiceStatus, ServiceSummary, VnfChange } from './orchestrator-views.js';

function toView(job: Job, log?: string[]): DeploymentView {
  const current = job.steps.find((step) => step.state === 'running' || step.state === 'pending' || step.state === 'failed');
  return {
    id: job.id,
    kind: job.kind as 'deploy' | 'teardown',
    service: job.subjectKey.replace(/^service:/, ''),
    state: job.state,
    stateReason: job.stateReason,
    ...(current === undefined ? {} : { currentStep: current.name }),
    steps: job.steps.map((step) => ({ name: step.name, state: step.state, attempts: step.attempts, durationMs: step.durationMs, lastError: step.lastError, output: step.output })),
    lastError: job.lastError,
    createdAt: new Date(job.createdAt).toISOString(),
    updatedAt: new Date(job.updatedAt).toISOString(),
    finishedAt: job.finishedAt === null ? null : new Date(job.finishedAt).toISOString(),
    ...(log === undefined ? {} : { log }),
  };
}

/**
 * The orchestrator as the API and CLI use it: a deployment is a durable job (kind deploy), so it
 * survives restarts and shows its progress step by step; re-running the same descriptor while it
 * runs returns that job, and a re-run after a failure converges from wherever the last one stopped.
 */
export class OrchestratorService {
  constructor(private readonly options: OrchestratorServiceOptions) {}

  async deploy(input: unknown): Promise<{ deployment: DeploymentView; created: boolean }> {
    const descriptor = parseServiceDescriptor(input);
    const subjectKey = serviceSubject(descriptor.metadata.name);
    const descriptorJson = JSON.parse(JSON.stringify(descriptor)) as JsonObject;
    const [latest] = await this.options.store.list({ subjectKey, limit: 1 });
    if (latest?.kind === 'deploy' && SUBJECT_HOLDING_STATES.includes(latest.state)) {
      if (latest.state !== 'failed_temp' && JSON.stringify(latest.input.descriptor) === JSON.stringify(descriptorJson)) return { deployment: toView(latest), created: false };
      // A new run supersedes one that gave up waiting for an operator; it converges from where that one stopped.
      if (latest.state === 'failed_temp') await this.options.runner.abandon(latest.id, 'superseded by a new deployment run');
    }
    const result = await this.options.runner.submit({ kind: 'deploy', subjectKey, input: { descriptor: descriptorJson } });
    return { deployment: toView(result.job), created: result.created };
  }

  async teardown(name: string): Promise<DeploymentView> {
    const subjectKey = serviceSubject(name);
    const deployments = await this.options.store.list({ kind: 'deploy', subjectKey, limit: 1000 });
    const [latest] = deployments;
    if (latest === undefined) throw new AppError('NOT_FOUND', `No deployment of ${name} is known.`, { details: { service: name } });
    const names = new Set<string>();
    for (const job of deployments) {
      const descriptor = parseServiceDescriptor(job.input.descriptor);
      for (const microservice of tackerMicroservicesOf(descriptor)) names.add(vnfInstanceNameOf(descriptor, microservice));
    }
    for (const job of deployments) if (job.state === 'failed_temp') await this.options.runner.abandon(job.id, 'superseded by a teardown');
    const result = await this.options.runner.submit({ kind: 'teardown', subjectKey, input: { descriptor: latest.input.descriptor ?? null, vnfInstanceNames: [...names].sort() } });
    return toView(result.job);
  }

  async job(id: string): Promise<DeploymentView> {
    const job = await this.options.store.get(id);
    if (job === null || (job.kind !== 'deploy' && job.kind !== 'teardown')) throw new AppError('NOT_FOUND', `No deployment job ${id}.`, { details: { jobId: id } });
    const log = await this.options.store.readLog(id);
    return toView(job, log.map((line) => `${new Date(line.at).toISOString()} ${line.line}`));
  }

  /** What a deployment of this descriptor would change, computed against the cluster and Tacker; changes nothing. */
  async plan(input: unknown): Promise<OrchestrationPlan> {
    const descriptor = parseServiceDescriptor(input);
    const desired = desiredObjects(descriptor, { trustDomain: this.options.trustDomain });
    const objects = planChanges(desired, await liveObjects(this.options.cluster, descriptor));
    const vnfs = await this.vnfChanges(descriptor);
    return {
      service: descriptor.metadata.name,
      objects: summary(objects),
      vnfs,
      text: [formatPlan(objects), ...vnfs.filter((change) => change.action !== 'none').map(describeVnfChange)].join('\n'),
    };
  }

  /** Every service with a deploy or teardown job, newest activity first. */
  async services(): Promise<ServiceSummary[]> {
    const jobs = await Promise.all([this.options.store.list({ kind: 'deploy', limit: MAX_LIST_LIMIT }), this.options.store.list({ kind: 'teardown', limit: MAX_LIST_LIMIT })]);
    const newest = new Map<string, Job>();
    for (const job of jobs.flat().sort((a, b) => b.updatedAt - a.updatedAt)) if (!newest.has(job.subjectKey)) newest.set(job.subjectKey, job);
    return [...newest.values()].map((job) => {
      const deployment = toView(job);
      return { service: deployment.service, deployment };
    });
  }

  async status(name: string): Promise<ServiceStatus> {
    const [latest] = await this.options.store.list({ subjectKey: serviceSubject(name), limit: 1 });
    if (latest === undefined) throw new AppError('NOT_FOUND', `No deployment of ${name} is known.`, { details: { service: name } });
    const [lastDeploy] = await this.options.store.list({ kind: 'deploy', subjectKey: serviceSubject(name), limit: 1 });
    const descriptor = parseServiceDescriptor((lastDeploy ?? latest).input.descriptor);
    const live = await liveObjects(this.options.cluster, descriptor);
    const liveKeys = new Set(live.map((object) => objectKey(object)));
    const microservices = await this.microserviceStatuses(descriptor, live);
    const desired = desiredObjects(descriptor, { trustDomain: this.options.trustDomain });
    const connections = descriptor.spec.connections.map((connection) => ({
      from: connection.from,
      to: connection.to,
      port: connection.port,
      objects: desired.filter((object) => isTrafficObjectFor(object, connection.to)).map((object) => ({ key: objectKey(object), present: liveKeys.has(objectKey(object)) })),
    }));
    const problem = firstProblem(latest, microservices, connections);
    return {
      service: name,
      namespace: descriptor.metadata.namespace,
      deployment: toView(latest),
      microservices,
      connections,
      ...(problem === undefined ? {} : { problem }),
    };
  }

  private async vnfChanges(descriptor: ServiceDescriptor): Promise<VnfChange[]> {
    const microservices = tackerMicroservicesOf(descriptor);
    if (microservices.length === 0) return [];
    const tacker = await this.options.tacker();
    const changes: VnfChange[] = [];
    for (const microservice of microservices) {
      const vnfInstanceName = vnfInstanceNameOf(descriptor, microservice);
      const instance = await findVnfInstance(tacker, vnfInstanceName);
      const from = instance === undefined ? 0 : serversOf(instance, microservice).length;
      const to = wantedCount(microservice);
      const action = instance === undefined || instance.instantiationState === 'NOT_INSTANTIATED' ? 'create' : from === to ? 'none' : 'scale';
      changes.push({ microservice: microservice.name, kind: microservice.kind === 'vm' ? 'vnf' : 'cnf', vnfInstanceName, action, from, to });
    }
    return changes;
  }

  private async microserviceStatuses(descriptor: ServiceDescriptor, live: KubeObject[]): Promise<MicroserviceStatus[]> {
    const statuses: MicroserviceStatus[] = [];
    const tacker = vmMicroservicesOf(descriptor).length === 0 ? undefined : await this.options.tacker();
    for (const microservice of descriptor.spec.microservices) {
      if (microservice.kind === 'container') statuses.push(containerStatus(microservice.name, microservice.version, live));
      else statuses.push(await this.vmStatus(descriptor, microservice, tacker as VnfLifecycle));
    }
    return statuses;
  }

  private async vmStatus(descriptor: ServiceDescriptor, microservice: VmMicroservice, tacker: VnfLifecycle): Promise<MicroserviceStatus> {
    const vnfInstanceName = vnfInstanceNameOf(descriptor, microservice);
    const instance = await findVnfInstance(tacker, vnfInstanceName);
    const servers = instance === undefined ? [] : serversOf(instance, microservice);
    const events = await this.options.events.latestInjectionEvents(servers);
    const workloads = await Promise.all(
      servers.map(async (serverId) => {
        const event = events.get(serverId);
        const job = await this.options.injectionJob?.(serverId);
        const jobText = job === undefined ? 'no injection job yet' : `injection job ${job.id} ${job.state}${job.step === undefined ? '' : ` (${job.step})`}`;
        const eventText = event === undefined ? 'no event yet' : `${event.outcome}${event.failure === undefined ? '' : ` in ${event.failure.step}: ${event.failure.message}`}`;
        return { name: `${event?.vmName ?? serverId} (${serverId})`, ready: event?.outcome === 'succeeded', detail: `${eventText}; ${jobText}` };
      }),
    );
    const enough = servers.length === microservice.instances;
    return {
      name: microservice.name,
      kind: 'vm',
      version: microservice.version,
      ready: enough && workloads.every((workload) => workload.ready),
      workloads: instance === undefined ? [{ name: vnfInstanceName, ready: false, detail: 'VNF instance not created' }] : workloads,
    };
  }
}

function containerStatus(name: string, version: string, live: KubeObject[]): MicroserviceStatus {
  const deployment = live.find((object) => object.kind === 'Deployment' && object.metadata.name === name);
  if (deployment === undefined) return { name, kind: 'container', version, ready: false, workloads: [{ name, ready: false, detail: 'Deployment missing' }] };
  const wanted = (deployment.spec as { replicas?: number } | undefined)?.replicas ?? 1;
  const ready = (deployment.status as { readyReplicas?: number } | undefined)?.readyReplicas ?? 0;
  return { name, kind: 'container', version, ready: ready >= wanted, workloads: [{ name: `Deployment ${name}`, ready: ready >= wanted, detail: `${ready}/${wanted} pods ready` }] };
}

function isTrafficObjectFor(object: KubeObject, service: string): boolean {
  if (!['VirtualService', 'DestinationRule', 'PeerAuthentication', 'AuthorizationPolicy'].includes(object.kind)) return false;
  return object.metadata.name === service || object.metadata.name.startsWith(`${service}-`);
}

function firstProblem(latest: Job, microservices: MicroserviceStatus[], connections: ServiceStatus['connections']): string | undefined {
  if (latest.kind === 'teardown' && latest.state === 'succeeded') return 'torn down: nothing of this service is deployed';
  if (latest.state !== 'succeeded' && latest.lastError !== null) return `${latest.kind} ${latest.state}: ${latest.lastError.message}`;
  const workload = microservices.flatMap((microservice) => microservice.workloads.filter((item) => !item.ready).map((item) => `${microservice.name}: ${item.name}: ${item.detail}`))[0];
  if (workload !== undefined) return workload;
  const missing = connections.flatMap((connection) => connection.objects.filter((object) => !object.present).map((object) => `${connection.from} → ${connection.to}: ${object.key} is missing`))[0];
  return missing;
}

function summary(plan: DeploymentPlan): OrchestrationPlan['objects'] {
  return {
    create: plan.create.map((object) => objectKey(object)),
    update: plan.update.map((update) => objectKey(update.desired)),
    delete: plan.delete.map((object) => objectKey(object)),
    unchanged: plan.unchanged.length,
  };
}

function describeVnfChange(change: VnfChange): string {
  const [what, unit] = change.kind === 'cnf' ? ['CNF', 'pod(s)'] : ['VNF', 'VM(s)'];
  return change.action === 'create'
    ? `+ ${what} ${change.vnfInstanceName}: create and instantiate with ${change.to} ${unit}`
    : `~ ${what} ${change.vnfInstanceName}: scale from ${change.from} to ${change.to} ${unit}`;
}
