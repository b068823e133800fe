import type { Clock } from '../clock.js';
import type { TackerConfig } from '../config.js';
import { AppError } from '../errors.js';
import type { InjectionSpec } from '../injection-spec.js';
import type { JsonObject, JsonValue } from '../jobs/job.js';
import { retryPolicy } from '../retry/retry-policy.js';
import type { StepContext, StepDefinition } from '../jobs/step-definition.js';
import { waitUntilActive, type AddressPreference, type ServerDirectory } from '../openstack/server-directory.js';
import { intentsFromNotification, intentsFromOpOcc, type LcmIntent, type OpOccIntentDecision } from '../tacker/lcm-intents.js';
import { MESH_PARAMETERS_KEY, resolveMeshParameters } from '../tacker/mesh-parameters.js';
import type { NormalizedLcmNotification } from '../tacker/sol003-notification.js';
import type { TackerLcmReader } from './tacker-lcm-reader.js';
import type { NormalizedVnfInstance } from '../tacker/vnf-instance.js';
import type { SubmitResult } from './injection-service.js';
import { buildTackerVmSpec } from './tacker-vm-spec.js';

export type TackerApiVersion = 'v1' | 'v2';

export interface TackerPluginDependencies {
  tacker: (apiVersion: TackerApiVersion) => Promise<TackerLcmReader>;
  servers: ServerDirectory;
  submit: (kind: 'inject' | 'remove', spec: InjectionSpec, idempotencyKey: string, context: JsonObject) => Promise<SubmitResult>;
  injectedSpec: (serverId: string) => Promise<InjectionSpec | undefined>;
  /** The meshSidecar parameters an earlier operation of this VNF carried: Tacker does not copy Instantiate's to Scale or Heal. */
  earlierMeshParameters: (vnfInstanceId: string) => Promise<unknown>;
  /** Servers of this VNF the service injected and has not removed: the mesh's view of its members. */
  injectedMembers: (vnfInstanceId: string) => Promise<Array<{ serverId: string; vduId: string }>>;
  config: TackerConfig;
  addressPreference: AddressPreference;
  activeTimeoutMs: number;
  clock: Clock;
}

export interface IntentSources {
  additionalParams: Record<string, unknown> | undefined;
  vnfdId: string | undefined;
  vnfInstanceId: string;
  signal?: AbortSignal;
}

export type IntentOutcome = { serverId: string; action: LcmIntent['action']; vduId: string } & ({ jobId: string; created: boolean } | { skipped: string });

async function injectIntent(intent: LcmIntent, sources: IntentSources, deps: TackerPluginDependencies): Promise<IntentOutcome> {
  const base = { serverId: intent.serverId, action: intent.action, vduId: intent.vduId };
  const server = await waitUntilActive(deps.servers, intent.serverId, {
    deadlineMs: deps.clock.now() + deps.activeTimeoutMs,
    clock: deps.clock,
    ...(sources.signal === undefined ? {} : { signal: sources.signal }),
  });
  const profile = sources.vnfdId === undefined ? undefined : deps.config.profiles[sources.vnfdId];
  const resolution = resolveMeshParameters({ additionalParams: sources.additionalParams, serverMetadata: server.metadata, profile, vduId: intent.vduId });
  if (!resolution.optedIn) return { ...base, skipped: resolution.reason };
  const spec = buildTackerVmSpec({ server, params: resolution.params, defaults: deps.config.defaults, addressPreference: deps.addressPreference });
  const context = { vnfInstanceId: sources.vnfInstanceId, vduId: intent.vduId, vnfcId: intent.vnfcId, parameterSource: resolution.source };
  const { job, created } = await deps.submit('inject', spec, intent.dedupKey, context);
  return { ...base, jobId: job.id, created };
}

async function removeIntent(intent: LcmIntent, sources: IntentSources, deps: TackerPluginDependencies): Promise<IntentOutcome> {
  const base = { serverId: intent.serverId, action: intent.action, vduId: intent.vduId };
  const spec = await deps.injectedSpec(intent.serverId);
  if (spec === undefined) return { ...base, skipped: 'this service never injected the server' };
  const serverDeleted = (await deps.servers.getServer(intent.serverId)) === undefined;
  const { job, created } = await deps.submit('remove', spec, intent.dedupKey, { vnfInstanceId: sources.vnfInstanceId, vduId: intent.vduId, serverDeleted });
  return { ...base, jobId: job.id, created };
}

/** One VM's part of an operation: inject it if it opted in, or take it out of the mesh. */
export function handleIntent(intent: LcmIntent, sources: IntentSources, deps: TackerPluginDependencies): Promise<IntentOutcome> {
  return intent.action === 'inject' ? injectIntent(intent, sources, deps) : removeIntent(intent, sources, deps);
}

async function vnfInstanceOf(client: TackerLcmReader, vnfInstanceId: string): Promise<NormalizedVnfInstance | undefined> {
  try {
    return await client.getVnfInstance(vnfInstanceId);
  } catch (error) {
    // A terminated and deleted VNF is gone from Tacker; its removals need no profile.
    if (error instanceof AppError && error.code === 'NOT_FOUND') return undefined;
    throw error;
  }
}

/**
 * Tacker v1 reports a healed VNFC as MODIFIED with its new server and never reports the old server
 * (tacker/vnflcm/utils.py _get_affected_resources): members the mesh still has but the VNF no
 * longer lists are removed, so no WorkloadEntry is left pointing at a deleted VM.
 */
async function departedMembers(instance: NormalizedVnfInstance | undefined, intents: LcmIntent[], deps: TackerPluginDependencies, vnfInstanceId: string): Promise<LcmIntent[]> {
  const current = new Set([...(instance?.vnfcs ?? []).map((vnfc) => vnfc.serverId), ...intents.map((intent) => intent.serverId)]);
  const members = await deps.injectedMembers(vnfInstanceId);
  return members
    .filter((member) => !current.has(member.serverId))
    .map((member) => ({ action: 'remove' as const, serverId: member.serverId, vduId: member.vduId, vnfcId: member.serverId, dedupKey: `departed:${vnfInstanceId}:${member.serverId}` }));
}

function meshParametersOf(additionalParams: Record<string, unknown> | undefined): unknown {
  return additionalParams?.[MESH_PARAMETERS_KEY];
}

export interface LcmEventInput {
  apiVersion: TackerApiVersion;
  notification: NormalizedLcmNotification;
}

function eventInputOf(context: StepContext): LcmEventInput {
  return context.job.input as unknown as LcmEventInput;
}

/**
 * Reads the operation occurrence (the notification carries no additionalParams, and SHORT
 * verbosity no affected VNFCs), then submits one inject or remove job per affected VM. Every job
 * is keyed by the change it makes, so a re-run after a crash, a duplicate delivery or a reconcile
 * submits nothing twice.
 */
async function expand(context: StepContext, deps: TackerPluginDependencies): Promise<JsonValue> {
  const { apiVersion, notification } = eventInputOf(context);
  const client = await deps.tacker(apiVersion);
  const opOcc = await client.getLcmOpOcc(notification.vnfLcmOpOccId);
  const fromNotification = intentsFromNotification(notification);
  const decision: OpOccIntentDecision = fromNotification.decision === 'needs-op-occ' ? intentsFromOpOcc(opOcc) : fromNotification;
  if (decision.decision === 'ignore') return { ignored: decision.reason };
  const own = meshParametersOf(opOcc.additionalParams);
  const meshSidecar = own ?? (await deps.earlierMeshParameters(notification.vnfInstanceId));
  const additionalParams = meshSidecar === undefined ? undefined : { [MESH_PARAMETERS_KEY]: meshSidecar };
  const instance = await vnfInstanceOf(client, notification.vnfInstanceId);
  const sources: IntentSources = { additionalParams, vnfdId: instance?.vnfdId, vnfInstanceId: notification.vnfInstanceId, signal: context.signal };
  const departed = notification.operation === 'HEAL' ? await departedMembers(instance, decision.intents, deps, notification.vnfInstanceId) : [];
  const outcomes: IntentOutcome[] = [];
  for (const intent of [...decision.intents, ...departed]) {
    const outcome = await handleIntent(intent, sources, deps);
    context.appendLog(`${intent.action} ${intent.serverId} (${intent.vduId}): ${'jobId' in outcome ? `job ${outcome.jobId}` : `skipped: ${outcome.skipped}`}`);
    outcomes.push(outcome);
  }
  return JSON.parse(JSON.stringify({ operation: notification.operation, meshSidecar: meshSidecar ?? null, outcomes })) as JsonValue;
}

export function createLcmEventSteps(deps: TackerPluginDependencies): StepDefinition[] {
  return [
    {
      name: 'expand',
      policy: { attemptTimeoutMs: deps.activeTimeoutMs + 120_000, retry: retryPolicy({ maximumAttempts: 8, initialIntervalMs: 5_000 }), deadlineMs: 30 * 60_000 },
      run: (context) => expand(context, deps),
    },
  ];
}
