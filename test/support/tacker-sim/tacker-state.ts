import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../../src/clock.js';
import type { KubernetesVim } from './kubernetes-vim.js';
import type { LcmEngine } from './lcm-engine.js';
import type { NotificationSender } from './notification-sender.js';
import type { LcmOperation, LcmOperationState, SimOpOcc, SimSubscription, SimVnfInstance, SimVnfd, TackerApi } from './vnf-model.js';

/** Everything both APIs share: the records, the VM engine, the notification sender, the clock. */
export class TackerState {
  readonly vnfds = new Map<string, SimVnfd>();
  readonly instances = new Map<string, SimVnfInstance>();
  readonly opOccs = new Map<string, SimOpOcc>();
  readonly subscriptions = new Map<string, SimSubscription>();
  readonly events = new EventEmitter();
  /** The VIM every instance is placed on (Tacker's default VIM). */
  readonly vimId = randomUUID();
  private readonly operations = new Set<Promise<void>>();
  /** Tacker's endpoint options ([v2_vnfm] endpoint, [vnf_lcm] endpoint_url): this server's own URL. */
  baseUrl = '';

  constructor(
    readonly engine: LcmEngine,
    readonly sender: NotificationSender,
    readonly clock: Clock,
    /** The registered Kubernetes VIM CNFs are instantiated on; none when the test registers none. */
    readonly kubernetes?: KubernetesVim,
  ) {
    this.events.setMaxListeners(0);
  }

  changed(): void {
    this.events.emit('change');
  }

  instanceOf(api: TackerApi, id: string): SimVnfInstance | undefined {
    const instance = this.instances.get(id);
    return instance?.api === api ? instance : undefined;
  }

  subscriptionOf(api: TackerApi, id: string): SimSubscription | undefined {
    const subscription = this.subscriptions.get(id);
    return subscription?.api === api ? subscription : undefined;
  }

  subscriptionsOf(api: TackerApi): SimSubscription[] {
    return [...this.subscriptions.values()].filter((subscription) => subscription.api === api);
  }

  opOccOf(api: TackerApi, id: string): SimOpOcc | undefined {
    const occ = this.opOccs.get(id);
    return occ?.api === api ? occ : undefined;
  }

  opOccsOf(api: TackerApi): SimOpOcc[] {
    return [...this.opOccs.values()].filter((occ) => occ.api === api);
  }

  hasFailedTemp(instanceId: string): boolean {
    return [...this.opOccs.values()].some((occ) => occ.vnfInstanceId === instanceId && occ.operationState === 'FAILED_TEMP');
  }

  newOpOcc(instance: SimVnfInstance, operation: LcmOperation, operationParams: unknown): SimOpOcc {
    const now = this.clock.now();
    const occ: SimOpOcc = {
      api: instance.api,
      id: randomUUID(),
      vnfInstanceId: instance.id,
      operation,
      operationState: 'STARTING',
      startTime: now,
      stateEnteredTime: now,
      operationParams,
      isAutomaticInvocation: false,
      stateHistory: ['STARTING'],
    };
    this.opOccs.set(occ.id, occ);
    this.changed();
    return occ;
  }

  enterState(occ: SimOpOcc, state: LcmOperationState): void {
    occ.operationState = state;
    occ.stateEnteredTime = this.clock.now();
    occ.stateHistory.push(state);
    this.changed();
  }

  /**
   * An LCM operation running in the conductor; close() waits for it. It starts on a later turn of
   * the event loop, as an RPC cast reaches the conductor after the API has answered 202.
   */
  runOperation(work: () => Promise<void>): void {
    const task = new Promise<void>((resolve) => setImmediate(resolve)).then(work).catch(() => undefined);
    this.operations.add(task);
    void task.finally(() => this.operations.delete(task));
  }

  async settled(): Promise<void> {
    while (this.operations.size > 0) await Promise.allSettled([...this.operations]);
    await this.sender.settled();
  }
}
