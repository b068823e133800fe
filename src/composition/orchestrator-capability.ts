import type { Router } from 'express';
import { orchestratorEventsRouter } from '../api/orchestrator-events-router.js';
import { orchestratorRouter } from '../api/orchestrator-router.js';
import { systemClock } from '../clock.js';
import type { Logger } from '../log.js';
import { type Config } from '../config.js';
import { durationToMs } from '../duration.js';
import { AppError } from '../errors.js';
import type { InjectionService } from '../injection/injection-service.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { JobStore } from '../jobs/job-store.js';
import type { StepDefinitions } from '../jobs/step-definition.js';
import type { OrchestratorInbox } from '../orchestrator/orchestrator-inbox.js';
import { OrchestratorService } from '../orchestrator/orchestrator-service.js';
import { createOrchestratorSteps, type OrchestratorDependencies } from '../orchestrator/orchestrator-steps.js';
import type { OpenedStores } from './open-job-store.js';
import { TackerVnfLifecycle } from '../tacker/tacker-vnf-lifecycle.js';
import type { TackerWiring } from './tacker-plugin-capability.js';
import { kubeConfigOf, notReady, optional, readHmacSecret, type LateParts } from './wiring-parts.js';

/**
 * Capability: the orchestrator module (config `orchestrator`). Needs the job store, the injection
 * service and, for VM microservices, the Tacker plugin's client; adds the `deploy`/`teardown`
 * steps, the orchestrator API and the injection-event inbox. Loaded by main.ts only when enabled.
 */

export interface OrchestratorParts {
  deps: OrchestratorDependencies;
  steps: StepDefinitions;
  events: OrchestratorInbox;
  eventSecret: Buffer;
}

/** What the injector is doing for a server, in one line for the orchestrator's progress messages. */
async function injectionProgress(store: JobStore, serverId: string): Promise<string | undefined> {
  const [job] = await store.list({ kind: 'inject', subjectKey: serverId, limit: 1 });
  if (job === undefined) return undefined;
  const step = job.steps.find((candidate) => candidate.state === 'running' || candidate.state === 'failed' || candidate.state === 'pending');
  const error = job.lastError === null ? '' : `: ${job.lastError.message}`;
  return `injection job ${job.id} ${job.state}${step === undefined ? '' : ` at step ${step.name}`}${error}`;
}

/**
 * A failed injection, run again for a re-run deployment: a failed_temp job is retried (it holds its
 * VM, so a new job would only queue behind it), a failed one re-onboarded, one already under way left alone.
 */
async function reinject(store: JobStore, injection: InjectionService, request: { failedJobId: string; idempotencyKey: string }): Promise<boolean> {
  const job = await store.get(request.failedJobId);
  if (job?.state === 'failed_temp') {
    await injection.retry(request.failedJobId);
    return true;
  }
  if (job?.state !== 'failed') return false;
  return (await injection.reonboard(request.failedJobId, request.idempotencyKey)).created;
}

export async function orchestratorParts(config: Config, stores: OpenedStores, tacker: TackerWiring | undefined, late: LateParts): Promise<OrchestratorParts | undefined> {
  const store = stores.jobs;
  const injection = (): InjectionService => {
    if (late.service === undefined) throw notReady('injection service');
    return late.service;
  };
  const orchestrator = config.orchestrator;
  if (orchestrator === undefined) return undefined;
  const secretFile = orchestrator.eventSecretFile ?? config.notify.webhook?.secretFile;
  if (secretFile === undefined) throw new AppError('INVALID_CONFIG', 'The orchestrator needs orchestrator.eventSecretFile (or notify.webhook.secretFile) to check the injector events it receives.');
  const { KubernetesClusterObjects } = await import('../orchestrator/kubernetes-cluster-objects.js');
  const events = stores.orchestratorInbox();
  const deps: OrchestratorDependencies = {
    cluster: new KubernetesClusterObjects({ kubeConfig: await kubeConfigOf(config), requestTimeoutMs: durationToMs(config.kubernetes?.requestTimeout ?? '30s') }),
    tacker: async () => {
      if (tacker === undefined) throw new AppError('INVALID_CONFIG', 'VM microservices need the tacker and openstack sections: the orchestrator creates VNFs through Tacker.');
      return new TackerVnfLifecycle(await tacker.client('v2'));
    },
    events,
    reinject: (failedJobId, idempotencyKey) => reinject(store, injection(), { failedJobId, idempotencyKey }),
    ...optional(
      'reconcileTacker',
      tacker === undefined
        ? undefined
        : async (sinceIso: string): Promise<void> => {
            if (late.plugin === undefined) throw notReady('Tacker plugin');
            await late.plugin.reconcile('v2', sinceIso);
          },
    ),
    injectionProgress: (serverId) => injectionProgress(store, serverId),
    clock: systemClock,
    trustDomain: orchestrator.trustDomain,
    timing: {
      pollIntervalMs: durationToMs(orchestrator.pollInterval),
      operationTimeoutMs: durationToMs(orchestrator.operationTimeout),
      injectionTimeoutMs: durationToMs(orchestrator.injectionTimeout),
      readyTimeoutMs: durationToMs(orchestrator.readyTimeout),
    },
  };
  return { deps, steps: createOrchestratorSteps(deps), events, eventSecret: await readHmacSecret(secretFile) };
}

export interface OrchestratorWiring {
  service: OrchestratorService;
  events: OrchestratorInbox;
  eventSecret: Buffer;
}

export function orchestratorWiring(parts: OrchestratorParts | undefined, runner: JobRunner, store: JobStore): OrchestratorWiring | undefined {
  if (parts === undefined) return undefined;
  const service = new OrchestratorService({
    runner,
    store,
    cluster: parts.deps.cluster,
    tacker: parts.deps.tacker,
    events: parts.events,
    trustDomain: parts.deps.trustDomain,
    injectionJob: async (serverId) => {
      const [job] = await store.list({ kind: 'inject', subjectKey: serverId, limit: 1 });
      const step = job?.steps.find((candidate) => candidate.state === 'running' || candidate.state === 'failed');
      return job === undefined ? undefined : { id: job.id, state: job.state, ...(step === undefined ? {} : { step: step.name }) };
    },
  });
  return { service, events: parts.events, eventSecret: parts.eventSecret };
}

/** The orchestrator API and the inbox the injector posts its events to. */
export function orchestratorRoutes(wiring: OrchestratorWiring, config: Config, logger: Logger): { orchestrator: Router; orchestratorEvents: Router } {
  return {
    orchestrator: orchestratorRouter(wiring.service),
    orchestratorEvents: orchestratorEventsRouter({ events: wiring.events, secret: wiring.eventSecret, http: config.http, now: Date.now, logger }),
  };
}
