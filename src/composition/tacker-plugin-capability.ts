import type { Router } from 'express';
import { tackerCallbackRouter, tackerMgmtRouter } from '../api/tacker-router.js';
import { systemClock } from '../clock.js';
import type { Config } from '../config.js';
import { durationToMs } from '../duration.js';
import type { InjectionSpec } from '../injection-spec.js';
import type { InjectionService } from '../injection/injection-service.js';
import { createLcmEventSteps, type TackerApiVersion, type TackerPluginDependencies } from '../injection/lcm-event-steps.js';
import { TackerPlugin } from '../injection/tacker-plugin.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { JobStore } from '../jobs/job-store.js';
import type { StepDefinition } from '../jobs/step-definition.js';
import type { Logger } from '../log.js';
import { TackerClient } from '../tacker/tacker-client.js';
import { callbackAuthenticator } from './tacker-callback-credentials.js';
import { openstackClients } from './wiring-parts.js';

/**
 * Capability: the Tacker plugin (config `tacker` + `openstack`). Needs the job store and the
 * injection service; adds the `lcm-event` job steps and the Tacker callback and mgmt routes.
 * Loaded by main.ts only when the config enables it.
 */

/** A succeeded lcm-event of the VNF that carried meshSidecar: Scale and Heal requests do not repeat it. */
async function earlierMeshParameters(store: JobStore, vnfInstanceId: string): Promise<unknown> {
  const events = await store.list({ kind: 'lcm-event', subjectKey: `vnf:${vnfInstanceId}`, state: 'succeeded', limit: 100 });
  for (const event of events) {
    const output = event.steps[0]?.output;
    if (output !== null && typeof output === 'object' && !Array.isArray(output) && output.meshSidecar !== null && output.meshSidecar !== undefined) return output.meshSidecar;
  }
  return undefined;
}

/** Injected VMs of the VNF without a removal since: what the mesh holds of it. */
async function injectedMembers(store: JobStore, vnfInstanceId: string): Promise<Array<{ serverId: string; vduId: string }>> {
  const members = new Map<string, { serverId: string; vduId: string; at: number }>();
  for (const job of await store.list({ kind: 'inject', state: 'succeeded', limit: 1000 })) {
    const context = job.input.context;
    if (context === null || typeof context !== 'object' || Array.isArray(context) || context.vnfInstanceId !== vnfInstanceId) continue;
    members.set(job.subjectKey, { serverId: job.subjectKey, vduId: typeof context.vduId === 'string' ? context.vduId : '', at: job.createdAt });
  }
  for (const member of [...members.values()]) {
    const [removal] = await store.list({ kind: 'remove', subjectKey: member.serverId, limit: 1 });
    if (removal !== undefined && removal.createdAt > member.at) members.delete(member.serverId);
  }
  return [...members.values()].map(({ serverId, vduId }) => ({ serverId, vduId }));
}

export interface TackerWiring {
  deps: TackerPluginDependencies;
  client: (apiVersion: TackerApiVersion) => Promise<TackerClient>;
  steps: StepDefinition[];
}

export async function tackerWiring(config: Config, logger: Logger, store: JobStore, service: () => InjectionService): Promise<TackerWiring | undefined> {
  const tacker = config.tacker;
  const openstack = config.openstack;
  if (tacker === undefined || openstack === undefined) return undefined;
  const clients = await openstackClients(openstack, logger);
  const tackerClients = new Map<TackerApiVersion, Promise<TackerClient>>();
  const tackerClient = (apiVersion: TackerApiVersion): Promise<TackerClient> => {
    let client = tackerClients.get(apiVersion);
    if (client === undefined) {
      client = TackerClient.fromCatalog(clients.keystone, { apiVersion });
      client.catch(() => tackerClients.delete(apiVersion));
      tackerClients.set(apiVersion, client);
    }
    return client;
  };
  const deps: TackerPluginDependencies = {
    tacker: tackerClient,
    servers: clients.servers,
    submit: (kind, spec: InjectionSpec, key, context) => service().submit(kind, spec, key, context),
    injectedSpec: (serverId) => service().injectedSpec(serverId),
    earlierMeshParameters: (vnfInstanceId) => earlierMeshParameters(store, vnfInstanceId),
    injectedMembers: (vnfInstanceId) => injectedMembers(store, vnfInstanceId),
    config: tacker,
    addressPreference: openstack.serverAddress,
    activeTimeoutMs: durationToMs(openstack.activeTimeout),
    clock: systemClock,
  };
  return { deps, client: tackerClient, steps: createLcmEventSteps(deps) };
}

export async function tackerRouters(config: Config, logger: Logger, plugin: TackerPlugin | undefined): Promise<{ tackerCallbacks?: Router; tackerMgmt?: Router }> {
  if (plugin === undefined || config.tacker === undefined) return {};
  const byApi = {
    v1: await callbackAuthenticator(config, 'v1'),
    v2: await callbackAuthenticator(config, 'v2'),
  };
  return {
    tackerCallbacks: tackerCallbackRouter({ plugin, apiVersions: config.tacker.apiVersions, auth: (apiVersion) => byApi[apiVersion], http: config.http, logger }),
    tackerMgmt: tackerMgmtRouter(plugin),
  };
}

/** The plugin, made once the runner its jobs run in exists. */
export function startTackerPlugin(wiring: TackerWiring, runner: JobRunner, store: JobStore): TackerPlugin {
  return new TackerPlugin({ runner, store, deps: wiring.deps });
}
