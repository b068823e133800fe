import type { Clock } from '../../../src/clock.js';
import { V1_USER_AGENT, V1AuthManager, V2_USER_AGENT, v2Authorization } from './callback-auth.js';
import { CallbackTimeoutError, sendCallback, type CallbackResponse } from './callback-client.js';
import type { SimSubscription, TackerApi } from './vnf-model.js';

/** Tacker's defaults: v1 [vnf_lcm] retry_num, retry_wait, retry_timeout; v2's TEST_NOTIFICATION_TIMEOUT; v1 [authentication] timeout. */
export interface NotificationTiming {
  v1RetryNum: number;
  v1RetryWaitMs: number;
  v1RetryTimeoutMs: number;
  v2TestTimeoutMs: number;
  v1TokenTimeoutMs: number;
}

export const TACKER_NOTIFICATION_TIMING: NotificationTiming = {
  v1RetryNum: 3,
  v1RetryWaitMs: 10_000,
  v1RetryTimeoutMs: 10_000,
  v2TestTimeoutMs: 20_000,
  v1TokenTimeoutMs: 20_000,
};

/** One HTTP attempt at a callback: a notification POST or a subscription's test GET. */
export interface CallbackAttempt {
  api: TackerApi;
  kind: 'notification' | 'test';
  subscriptionId: string;
  callbackUri: string;
  attempt: number;
  headers: Record<string, string>;
  /** The notification; undefined for test GETs. */
  body?: Record<string, unknown>;
  /** The answer's status; undefined when nothing answered. */
  status?: number;
  error?: string;
  at: number;
}

export type V2TestOutcome = { kind: 'passed' } | { kind: 'failed'; status: 422 | 500; detail: string };

/** Sent while notifications are suspended, as a plugin that is down would leave Tacker. */
const SUSPENDED_ERROR = 'connect ECONNREFUSED (notifications suspended)';

export interface NotificationSenderDeps {
  clock: Clock;
  timing: NotificationTiming;
  onChange: () => void;
}

export class NotificationSender {
  private readonly recorded: CallbackAttempt[] = [];
  private readonly pending = new Set<Promise<void>>();
  private readonly v1Auth: V1AuthManager;
  private isSuspended = false;
  /** Ends v1's retry waits when the simulator closes. */
  private readonly shutdown = new AbortController();

  constructor(private readonly deps: NotificationSenderDeps) {
    this.v1Auth = new V1AuthManager(deps.clock, deps.timing.v1TokenTimeoutMs);
  }

  attempts(): CallbackAttempt[] {
    return [...this.recorded];
  }

  /** The simulator is closing: nothing more reaches a callback and retry waits end now. */
  close(): void {
    this.isSuspended = true;
    this.shutdown.abort();
  }

  suspend(): void {
    this.isSuspended = true;
  }

  resume(): void {
    this.isSuspended = false;
  }

  /** Resolves once every background delivery started so far has ended. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Work that Tacker runs in a thread or an RPC cast: started now, never awaited by the caller. */
  inBackground(work: () => Promise<void>): void {
    const task = work().catch(() => undefined);
    this.pending.add(task);
    void task.finally(() => this.pending.delete(task));
  }

  /**
   * subscription_utils.send_notification: its own thread, one POST with no timeout, expected 204,
   * and a failure is only logged (no retry, no redelivery).
   */
  sendV2(subscription: SimSubscription, body: Record<string, unknown>): void {
    this.inBackground(async () => {
      const headers = await this.v2Headers(subscription, 'application/json').catch((error: unknown) => {
        this.record({ ...this.base(subscription, 'notification', 1), headers: {}, body, error: `authorization failed: ${String(error)}`, at: this.deps.clock.now() });
        return undefined;
      });
      if (headers === undefined) return;
      await this.exchange(this.base(subscription, 'notification', 1), { headers, body: JSON.stringify(body), record: body }).catch(() => undefined);
    });
  }

  /**
   * subscription_utils.test_notification: GET callbackUri with a 20 s timeout, 204 or the subscription
   * is refused. A non-204 becomes TestNotificationFailed (422) via HttpClient.raise_sol_exception, which
   * itself fails (500) on answers it cannot read; transport and auth errors are no SolException: 500.
   */
  async testV2(subscription: SimSubscription): Promise<V2TestOutcome> {
    try {
      const headers = await this.v2Headers(subscription, undefined);
      const response = await this.exchange(this.base(subscription, 'test', 1), { headers, timeoutMs: this.deps.timing.v2TestTimeoutMs });
      return response.status === 204 ? { kind: 'passed' } : readV2Failure(response);
    } catch (error) {
      return { kind: 'failed', status: 500, detail: error instanceof Error ? error.message : String(error) };
    }
  }

  /**
   * conductor_server.send_notification, per subscription: up to retry_num POSTs with retry_timeout,
   * sleeping retry_wait after every non-204 or timeout (also after the last). Any other error (refused
   * connection, no OAuth2 token) ends the delivery at once, logged only.
   */
  async sendV1(subscription: SimSubscription, body: Record<string, unknown>): Promise<void> {
    try {
      await this.v1Auth.prepare(subscription);
      for (let attempt = 1; attempt <= this.deps.timing.v1RetryNum; attempt += 1) {
        if (await this.tryV1(subscription, attempt, body)) return;
        await this.deps.clock.sleep(this.deps.timing.v1RetryWaitMs, this.shutdown.signal);
      }
    } catch {
      // LOG.warning("send error[...]"): the notification is lost.
    }
  }

  /**
   * conductor_server.test_notification: GET with the body `{}`, retried like a notification; false
   * after retry_num failures. A refused connection is not caught there and surfaces as an error.
   */
  async testV1(subscription: SimSubscription): Promise<boolean> {
    await this.v1Auth.prepare(subscription);
    for (let attempt = 1; attempt <= this.deps.timing.v1RetryNum; attempt += 1) {
      if (await this.tryV1(subscription, attempt, undefined)) return true;
      await this.deps.clock.sleep(this.deps.timing.v1RetryWaitMs, this.shutdown.signal);
    }
    return false;
  }

  /** True on 204; false on another status or a timeout (both retried); throws on anything else. */
  private async tryV1(subscription: SimSubscription, attempt: number, body: Record<string, unknown> | undefined): Promise<boolean> {
    const authorization = await this.v1Auth.authorization(subscription.id);
    const headers: Record<string, string> = { 'User-Agent': V1_USER_AGENT, 'Accept-Encoding': 'gzip, deflate', Accept: '*/*', Connection: 'keep-alive' };
    if (authorization !== undefined) headers.Authorization = authorization;
    const base = this.base(subscription, body === undefined ? 'test' : 'notification', attempt);
    try {
      const payload = JSON.stringify(body ?? {});
      const response = await this.exchange(base, { headers, body: payload, record: body, timeoutMs: this.deps.timing.v1RetryTimeoutMs });
      if (response.status === 204) return true;
      await this.v1Auth.onResponse(subscription.id, response.status);
      return false;
    } catch (error) {
      if (error instanceof CallbackTimeoutError) return false;
      throw error;
    }
  }

  /** keystoneauth headers plus HttpClient's Accept, Content-Type (with a body) and Version. */
  private async v2Headers(subscription: SimSubscription, contentType: string | undefined): Promise<Record<string, string>> {
    const headers: Record<string, string> = {
      'User-Agent': V2_USER_AGENT,
      'Accept-Encoding': 'gzip, deflate',
      Accept: 'application/json',
      Connection: 'keep-alive',
      Version: '2.0.0',
    };
    if (contentType !== undefined) headers['Content-Type'] = contentType;
    const authorization = await v2Authorization(subscription);
    if (authorization !== undefined) headers.Authorization = authorization;
    return headers;
  }

  private base(subscription: SimSubscription, kind: CallbackAttempt['kind'], attempt: number): Omit<CallbackAttempt, 'headers' | 'at'> {
    return { api: subscription.api, kind, subscriptionId: subscription.id, callbackUri: subscription.callbackUri, attempt };
  }

  private async exchange(
    base: Omit<CallbackAttempt, 'headers' | 'at'>,
    call: { headers: Record<string, string>; body?: string; record?: Record<string, unknown>; timeoutMs?: number },
  ): Promise<CallbackResponse> {
    const entry: CallbackAttempt = { ...base, headers: call.headers, ...(call.record === undefined ? {} : { body: call.record }), at: this.deps.clock.now() };
    try {
      if (this.isSuspended) throw new Error(SUSPENDED_ERROR);
      const method = base.kind === 'test' ? 'GET' : 'POST';
      const response = await sendCallback({ url: base.callbackUri, method, headers: call.headers, body: call.body, timeoutMs: call.timeoutMs });
      this.record({ ...entry, status: response.status });
      return response;
    } catch (error) {
      this.record({ ...entry, error: error instanceof Error ? error.message : String(error) });
      throw error;
    }
  }

  private record(entry: CallbackAttempt): void {
    this.recorded.push(entry);
    this.deps.onChange();
  }
}

/** http_client.HttpClient._decode_body and raise_sol_exception, applied to a non-204 answer. */
function readV2Failure(response: CallbackResponse): V2TestOutcome {
  const contentType = response.headers['content-type'] ?? '';
  const isReadable = response.body === '' || contentType === 'text/plain' || contentType === 'application/zip' || isJson(response.body);
  if (!isReadable) return { kind: 'failed', status: 500, detail: 'Expecting value: line 1 column 1 (char 0)' };
  if (response.headers['content-type'] === undefined) return { kind: 'failed', status: 500, detail: "'Content-Type'" };
  if (contentType === 'application/problem+json' && !hasDetail(response.body)) return { kind: 'failed', status: 500, detail: "'detail'" };
  return { kind: 'failed', status: 422, detail: "Can't get from notification callback Uri." };
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function hasDetail(text: string): boolean {
  return isJson(text) && typeof (JSON.parse(text) as { detail?: unknown }).detail === 'string';
}
