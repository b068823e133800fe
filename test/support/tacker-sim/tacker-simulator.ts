import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../../src/clock.js';
import type { CloudModel } from '../openstack-sim/cloud-model.js';
import type { KubernetesVim } from './kubernetes-vim.js';
import { LcmEngine } from './lcm-engine.js';
import { NotificationSender, TACKER_NOTIFICATION_TIMING, type CallbackAttempt, type NotificationTiming } from './notification-sender.js';
import { headerValue, matchRoute, readBody, writeResponse, type Route, type SimRequest, type SimResponse } from './sim-http.js';
import { TackerState } from './tacker-state.js';
import { realClock } from './tacker-time.js';
import { V1Api } from './v1-api.js';
import { V2Api } from './v2-api.js';
import type { LcmOperationState, SimOpOcc, SimSubscription, SimVnfd, SimVnfInstance, VmProvider } from './vnf-model.js';

export type { CallbackAttempt, NotificationTiming } from './notification-sender.js';
export { kubernetesVim, type KubernetesVim } from './kubernetes-vim.js';
export type { CreatedVm, LcmOperationState, SimOpOcc, SimSubscription, SimVnfd, SimVnfInstance, VmCreateRequest, VmProvider } from './vnf-model.js';

export interface TackerSimulatorOptions {
  /** Where created servers are recorded (shared with the Nova/Neutron simulator). */
  cloud: CloudModel;
  vms: VmProvider;
  /** Checks X-Auth-Token (keystonemiddleware); by default only tokens from issueToken() pass. */
  keystone?: { validateToken(token: string): boolean };
  clock?: Clock;
  /** Tacker's notification timeouts and retries; tests shorten v1's waits. */
  timing?: Partial<NotificationTiming>;
  /** [v2_nfvo] test_callback_uri and [vnf_lcm] test_callback_uri; true as in Tacker. */
  testCallbackUri?: boolean;
  /** A registered VIM of type kubernetes (kubernetes-vim.ts): v2 instantiates CNF packages on it. */
  kubernetes?: KubernetesVim;
}

export interface TackerSimulator {
  /** The endpoint ([v2_vnfm] endpoint, [vnf_lcm] endpoint_url), e.g. http://127.0.0.1:41234. */
  readonly url: string;
  registerVnfd(vnfd: SimVnfd): void;
  /** A token the default keystone check accepts. */
  issueToken(): string;
  /** Every notification POST attempt, with headers, body and the answer's status. */
  deliveries(): CallbackAttempt[];
  /** Every test GET made while creating subscriptions. */
  callbackTests(): CallbackAttempt[];
  subscriptions(): SimSubscription[];
  opOccs(): SimOpOcc[];
  vnfInstances(): SimVnfInstance[];
  /** Every attempt fails as if the plugin were down; v2 and v1 both lose what they send meanwhile. */
  suspendNotifications(): void;
  resumeNotifications(): void;
  /** Resolves with the occurrence as it is now once it has entered `state` (at any time). */
  waitForOpOcc(id: string, state: LcmOperationState, timeoutMs?: number): Promise<SimOpOcc>;
  /** Resolves with all deliveries once `predicate` holds for them. */
  waitForDeliveries(predicate: (deliveries: CallbackAttempt[]) => boolean, timeoutMs?: number): Promise<CallbackAttempt[]>;
  /** Resolves once running operations and background deliveries have ended. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

const UNAUTHORIZED: SimResponse = {
  status: 401,
  headers: { 'Content-Type': 'application/json', 'WWW-Authenticate': 'Keystone uri="http://127.0.0.1/identity"' },
  body: { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } },
};

class SimulatorServer implements TackerSimulator {
  private readonly issuedTokens = new Set<string>();
  private readonly routes: Route[];
  private readonly v2: V2Api;
  private server: Server | undefined;

  constructor(
    private readonly state: TackerState,
    private readonly options: TackerSimulatorOptions,
  ) {
    const testCallbackUri = options.testCallbackUri ?? true;
    this.v2 = new V2Api(state, { testCallbackUri });
    this.routes = [...this.v2.routes(), ...new V1Api(state, { testCallbackUri }).routes()];
  }

  get url(): string {
    return this.state.baseUrl;
  }

  async listen(): Promise<void> {
    const server = createServer((request, response) => {
      void readBody(request).then(async (rawBody) => {
        const url = new URL(request.url ?? '/', 'http://localhost');
        const simRequest: SimRequest = { method: request.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: request.headers, rawBody, params: {} };
        writeResponse(response, await this.dispatch(simRequest));
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.state.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  private async dispatch(request: SimRequest): Promise<SimResponse> {
    if (!this.isAuthenticated(headerValue(request.headers, 'x-auth-token'))) return UNAUTHORIZED;
    const match = matchRoute(this.routes, request.method, request.path);
    if (match.kind === 'found') return match.handler({ ...request, params: match.params });
    if (match.kind === 'method-not-allowed' && request.path.startsWith('/vnflcm/v2/')) return this.v2.methodNotAllowed()(request);
    if (match.kind === 'method-not-allowed') return { status: 405, headers: { 'Content-Type': 'application/json' }, body: { badMethod: { code: 405, message: 'Method not allowed' } } };
    return { status: 404, headers: { 'Content-Type': 'text/plain' }, body: 'The resource could not be found.' };
  }

  private isAuthenticated(token: string | undefined): boolean {
    if (token === undefined || token === '') return false;
    return this.options.keystone?.validateToken(token) ?? this.issuedTokens.has(token);
  }

  registerVnfd(vnfd: SimVnfd): void {
    this.state.vnfds.set(vnfd.vnfdId, structuredClone(vnfd));
  }

  issueToken(): string {
    const token = `gAAAAA${randomBytes(24).toString('base64url')}`;
    this.issuedTokens.add(token);
    return token;
  }

  deliveries(): CallbackAttempt[] {
    return this.state.sender.attempts().filter((attempt) => attempt.kind === 'notification');
  }

  callbackTests(): CallbackAttempt[] {
    return this.state.sender.attempts().filter((attempt) => attempt.kind === 'test');
  }

  subscriptions(): SimSubscription[] {
    return structuredClone([...this.state.subscriptions.values()]);
  }

  opOccs(): SimOpOcc[] {
    return structuredClone([...this.state.opOccs.values()]);
  }

  vnfInstances(): SimVnfInstance[] {
    return structuredClone([...this.state.instances.values()]);
  }

  suspendNotifications(): void {
    this.state.sender.suspend();
  }

  resumeNotifications(): void {
    this.state.sender.resume();
  }

  async waitForOpOcc(id: string, state: LcmOperationState, timeoutMs = 30_000): Promise<SimOpOcc> {
    const reached = await this.waitFor(() => {
      const occ = this.state.opOccs.get(id);
      return occ?.stateHistory.includes(state) === true ? structuredClone(occ) : undefined;
    }, timeoutMs);
    if (reached !== undefined) return reached;
    throw new Error(`VnfLcmOpOcc ${id} did not reach ${state} within ${timeoutMs} ms; it is ${this.state.opOccs.get(id)?.operationState ?? 'unknown'}`);
  }

  async waitForDeliveries(predicate: (deliveries: CallbackAttempt[]) => boolean, timeoutMs = 30_000): Promise<CallbackAttempt[]> {
    const reached = await this.waitFor(() => {
      const deliveries = this.deliveries();
      return predicate(deliveries) ? deliveries : undefined;
    }, timeoutMs);
    if (reached !== undefined) return reached;
    throw new Error(`deliveries did not match within ${timeoutMs} ms; got ${JSON.stringify(this.deliveries().map((entry) => [entry.body?.notificationType, entry.body?.operationState, entry.status]))}`);
  }

  /** Re-checks on every state change instead of polling; undefined when the time runs out. */
  private waitFor<T>(probe: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
    return new Promise((resolve) => {
      const check = (): void => {
        const value = probe();
        if (value === undefined) return;
        finish(value);
      };
      const finish = (value: T | undefined): void => {
        clearTimeout(timer);
        this.state.events.off('change', check);
        resolve(value);
      };
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      this.state.events.on('change', check);
      check();
    });
  }

  settled(): Promise<void> {
    return this.state.settled();
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.state.sender.close();
    if (server !== undefined) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await this.state.settled();
  }
}

/**
 * An in-process Tacker serving /vnflcm/v1 and /vnflcm/v2 side by side on 127.0.0.1, with
 * subscriptions (callback test, filters, BASIC and OAuth2 callback authentication), LCM operations
 * backed by a VmProvider and recorded in the CloudModel (v2 CNF packages: by a Kubernetes VIM),
 * and each API's notifications as Tacker sends them.
 */
export async function startTackerSimulator(options: TackerSimulatorOptions): Promise<TackerSimulator> {
  const clock = options.clock ?? realClock;
  const timing: NotificationTiming = { ...TACKER_NOTIFICATION_TIMING, ...options.timing };
  const holder: { state?: TackerState } = {};
  const sender = new NotificationSender({ clock, timing, onChange: () => holder.state?.changed() });
  const state = new TackerState(new LcmEngine({ cloud: options.cloud, vms: options.vms, clock }), sender, clock, options.kubernetes);
  holder.state = state;
  const simulator = new SimulatorServer(state, options);
  await simulator.listen();
  return simulator;
}
