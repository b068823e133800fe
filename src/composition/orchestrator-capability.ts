import type { Router } from 'express';
import { orchestratorEventsRouter } from '../api/orchestrator-events-router.js';
import { orchestratorRouter } from '../api/orchestrator-router.js';
import { ORCHESTRATOR_TACKER_NOTIFICATIONS_PATH, orchestratorTackerRouter } from '../api/orchestrator-tacker-router.js';
import { systemClock } from '../clock.js';
import type { Logger } from '../log.js';
import { type Config } from '../config.js';
import { durationToMs } from '../duration.js';
import { AppError } from '../errors.js';
import type { InjectionService } from '../injection/injection-service.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { JobStore } from '../jobs/job-store.js';
import type { StepDefinitions } from '../jobs/step-definition.js';
import { OPERATION_RESULT_STATES, type OrchestratorInbox } from '../orchestrator/orchestrator-inbox.js';
import { OperationArrivals } from '../orchestrator/operation-arrivals.js';
import type { OperationNotifications } from '../orchestrator/vnf-lifecycle-port.js';
import { buildSubscriptionRequest } from '../tacker/subscription-request.js';
import { callbackAuthenticator, subscriptionAuthentication } from './tacker-callback-credentials.js';
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
  arrivals: OperationArrivals;
  eventSecret: Buffer;
}

/** The operations the orchestrator starts, and so the ones its subscription asks Tacker about. */
const ORCHESTRATED_OPERATIONS = ['INSTANTIATE', 'SCALE', 'TERMINATE'] as const;
// After Tacker refused the subscription (down, or the callback test failed), deployments poll and it is tried again this much later.
const RESUBSCRIBE_AFTER_MS = 60_000;

/**
 * The orchestrator's one Tacker v2 subscription, made when a deployment first needs Tacker and kept
 * (found again by its callback URI after a restart or on another replica). Until it exists, or
 * without tacker.callbackBaseUrl, operations are polled as before.
 */
function operationNotificationsOf(
  config: Config,
  parts: { tacker: TackerWiring | undefined; inbox: OrchestratorInbox; arrivals: OperationArrivals; logger: Logger },
): (() => Promise<OperationNotifications | undefined>) | undefined {
  const { tacker, inbox, arrivals, logger } = parts;
  const settings = config.orchestrator?.tackerNotifications;
  const baseUrl = config.tacker?.callbackBaseUrl;
  if (tacker === undefined || settings?.subscribe !== true) return undefined;
  if (baseUrl === undefined) {
    logger.info('Orchestrator: no tacker.callbackBaseUrl, so no subscription to Tacker operation results; operations are polled');
    return undefined;
  }
  const callbackUri = `${baseUrl.replace(/\/$/, '')}${ORCHESTRATOR_TACKER_NOTIFICATIONS_PATH}`;
  const notifications: OperationNotifications = {
    latestResult: async (vnfLcmOpOccId) => {
      const event = await inbox.latestOperationEvent(vnfLcmOpOccId);
      return event === undefined ? undefined : `${event.operationState}@${event.time}`;
    },
    arrival: (vnfLcmOpOccId, signal) => arrivals.arrival(vnfLcmOpOccId, signal),
    apiReadIntervalMs: durationToMs(settings.apiReadInterval),
  };
  const subscribe = async (): Promise<void> => {
    const client = await tacker.client('v2');
    const request = buildSubscriptionRequest({
      apiVersion: 'v2',
      callbackUri,
      auth: await subscriptionAuthentication(config, 'v2'),
      filter: { operationTypes: ORCHESTRATED_OPERATIONS, operationStates: OPERATION_RESULT_STATES },
      // Every result is confirmed by reading the occurrence, so the affected VNFCs would only be parsed and dropped.
      verbosity: 'SHORT',
    });
    const { subscription, created } = await client.keepOrCreateSubscription(request);
    logger.info('Orchestrator subscribed to Tacker operation results', { subscriptionId: subscription.id, callbackUri, created });
  };
  let subscribed: Promise<boolean> | undefined;
  let failedAt = Number.NEGATIVE_INFINITY;
  return async () => {
    if (subscribed === undefined && systemClock.now() - failedAt >= RESUBSCRIBE_AFTER_MS) {
      subscribed = subscribe().then(
        () => true,
        (error: unknown) => {
          failedAt = systemClock.now();
          subscribed = undefined;
          logger.warn('Orchestrator could not subscribe to Tacker operation results; polling operations instead', { error: error instanceof Error ? error.message : String(error) });
          return false;
        },
      );
    }
    return (await subscribed) === true ? notifications : undefined;
  };
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

export async function orchestratorParts(config: Config, stores: OpenedStores, tacker: TackerWiring | undefined, context: { late: LateParts; logger: Logger }): Promise<OrchestratorParts | undefined> {
  const { late, logger } = context;
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
  const arrivals = new OperationArrivals();
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
    ...optional('operationNotifications', operationNotificationsOf(config, { tacker, inbox: events, arrivals, logger })),
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
  return { deps, steps: createOrchestratorSteps(deps), events, arrivals, eventSecret: await readHmacSecret(secretFile) };
}

export interface OrchestratorWiring {
  service: OrchestratorService;
  events: OrchestratorInbox;
  arrivals: OperationArrivals;
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
  return { service, events: parts.events, arrivals: parts.arrivals, eventSecret: parts.eventSecret };
}

/** The orchestrator API, the inbox the injector posts its events to and, with Tacker, the one its subscription calls back. */
export async function orchestratorRoutes(wiring: OrchestratorWiring, config: Config, logger: Logger): Promise<{ orchestrator: Router; orchestratorEvents: Router; orchestratorTackerCallbacks?: Router }> {
  return {
    orchestrator: orchestratorRouter(wiring.service),
    orchestratorEvents: orchestratorEventsRouter({ events: wiring.events, secret: wiring.eventSecret, http: config.http, now: Date.now, logger }),
    ...(config.tacker === undefined
      ? {}
      : { orchestratorTackerCallbacks: orchestratorTackerRouter({ inbox: wiring.events, arrivals: wiring.arrivals, auth: await callbackAuthenticator(config, 'v2'), http: config.http, now: Date.now, logger }) }),
  };
}
