import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { KeystoneClient } from '../../../src/openstack/keystone-client.js';
import type { TackerSimulator } from './tacker-simulator.js';

export interface TackerApiAnswer<T> {
  status: number;
  body: T;
  location: string | null;
}

export type TackerApiCall = <T>(apiVersion: 'v1' | 'v2', method: string, route: string, body?: unknown) => Promise<TackerApiAnswer<T>>;

/** Tacker's LCM API as an operator's client calls it: a Keystone token on each call, and v2's Version header. */
export function tackerApiCaller(tacker: Pick<TackerSimulator, 'url'>, keystone: KeystoneClient): TackerApiCall {
  return async <T>(apiVersion: 'v1' | 'v2', method: string, route: string, body?: unknown): Promise<TackerApiAnswer<T>> => {
    const { authToken } = await keystone.token();
    const response = await fetch(`${tacker.url}/vnflcm/${apiVersion}${route}`, {
      method,
      headers: { 'x-auth-token': authToken, 'content-type': 'application/json', ...(apiVersion === 'v2' ? { version: '2.0.0' } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : {}) as T, location: response.headers.get('location') };
  };
}

/** Creates a v2 VNF instance of the VNFD and instantiates it with these meshSidecar parameters, until Tacker completes it; its id. */
export async function instantiateWithMeshSidecar(call: TackerApiCall, tacker: TackerSimulator, request: { vnfdId: string; meshSidecar: unknown; timeoutMs?: number }): Promise<string> {
  const created = await call<{ id: string }>('v2', 'POST', '/vnf_instances', { vnfdId: request.vnfdId, vnfInstanceName: `vnf-${randomUUID().slice(0, 8)}` });
  expect(created.status, JSON.stringify(created.body)).to.equal(201);
  const started = await call('v2', 'POST', `/vnf_instances/${created.body.id}/instantiate`, { flavourId: 'simple', additionalParams: { meshSidecar: request.meshSidecar } });
  expect(started.status).to.equal(202);
  await tacker.waitForOpOcc(started.location?.split('/').pop() ?? '', 'COMPLETED', request.timeoutMs ?? 240_000);
  return created.body.id;
}

/** The Tacker plugin's v2 subscription with Basic callback credentials, as `vmsi tacker subscribe` makes it; must be accepted. */
export async function subscribePluginV2(call: TackerApiCall, serviceUrl: string, credentials: { username: string; password: string }): Promise<void> {
  const subscription = await call<{ id: string }>('v2', 'POST', '/subscriptions', {
    callbackUri: `${serviceUrl}/v1/tacker/notifications/v2`,
    authentication: { authType: ['BASIC'], paramsBasic: { userName: credentials.username, password: credentials.password } },
  });
  expect(subscription.status, JSON.stringify(subscription.body)).to.equal(201);
}

/** `count` VNFs of one VM each, instantiated five at a time as a busy Tacker would; their instance ids. */
export async function instantiateFleet(count: number, instantiate: () => Promise<string>): Promise<string[]> {
  const vnfs: string[] = [];
  for (let batch = 0; batch < count; batch += 5) vnfs.push(...(await Promise.all(Array.from({ length: Math.min(5, count - batch) }, () => instantiate()))));
  return vnfs;
}
