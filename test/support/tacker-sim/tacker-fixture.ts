import { CloudModel } from '../openstack-sim/cloud-model.js';
import { CallbackRecorder } from './callback-recorder.js';
import { FakeVmProvider } from './fake-vm-provider.js';
import { startTackerSimulator, type TackerSimulator, type TackerSimulatorOptions } from './tacker-simulator.js';
import type { SimVnfd } from './vnf-model.js';

export interface TackerAnswer {
  status: number;
  headers: Headers;
  body: unknown;
}

export interface TackerFixture {
  sim: TackerSimulator;
  cloud: CloudModel;
  vms: FakeVmProvider;
  callback: CallbackRecorder;
  token: string;
  /** One authenticated request; v2 paths get `Version: 2.0.0` unless headers say otherwise (an empty value drops a header). */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<TackerAnswer>;
  stop(): Promise<void>;
}

/** Two VDUs, one scalable by one server per step. */
export const SAMPLE_VNFD: SimVnfd = {
  vnfdId: 'b1bb0ce7-ebca-4fa7-95ed-4840d70a1177',
  vdus: [
    { vduId: 'VDU1', initialInstances: 1, metadata: { 'mesh.workloadGroup': 'checkout' } },
    { vduId: 'VDU2', initialInstances: 1 },
  ],
  scalingAspects: { VDU1_scale: { vduId: 'VDU1', stepDelta: 1, maxScaleLevel: 3 } },
  instantiationLevels: { instantiation_level_2: { VDU1_scale: 1 } },
  flavourIds: ['simple'],
};

/** A simulator with the sample VNFD, a fake VmProvider and a callback that answers 204. */
export async function startTackerFixture(options: Partial<TackerSimulatorOptions> = {}): Promise<TackerFixture> {
  const cloud = new CloudModel();
  const vms = new FakeVmProvider();
  const callback = new CallbackRecorder();
  await callback.start();
  const sim = await startTackerSimulator({ cloud, vms, ...options });
  sim.registerVnfd(SAMPLE_VNFD);
  const token = sim.issueToken();
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<TackerAnswer> => {
    const versioned: Record<string, string> = path.startsWith('/vnflcm/v2/') ? { Version: '2.0.0' } : {};
    const merged: Record<string, string> = { 'X-Auth-Token': token, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...versioned, ...headers };
    const response = await fetch(`${sim.url}${path}`, {
      method,
      redirect: 'manual',
      headers: Object.fromEntries(Object.entries(merged).filter(([, value]) => value !== '')),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    const isJson = response.headers.get('content-type')?.includes('json') === true;
    return { status: response.status, headers: response.headers, body: text === '' ? undefined : isJson ? (JSON.parse(text) as unknown) : text };
  };
  return {
    sim,
    cloud,
    vms,
    callback,
    token,
    call,
    stop: async () => {
      await sim.close();
      await callback.stop();
    },
  };
}
