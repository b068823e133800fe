import { tracedHttp } from '../telemetry/tracing.js';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { systemClock, type Clock } from '../clock.js';
import { describeTransportError, isRetryableStatus } from '../http/http-client-errors.js';
import { assertValidRetryPolicy, decideRetry, parseRetryAfter, type RetryPolicy } from '../retry/retry-policy.js';
import type { DeliveryReport, InjectionEvent, Notifier, NotifyOptions } from './notifier.js';

/**
 * Delivers injection events to the orchestrator as signed CloudEvents over HTTP POST.
 * Retrying a POST is safe here only because the event id is stable: the receiver de-duplicates.
 * Retries follow undici's rule (network errors, 408, 429, 5xx; Retry-After honoured); any other
 * answer is final. The shared secret only ever feeds the HMAC: it is kept in a private field so
 * it cannot reach a log line or an inspected object.
 */

export const SIGNATURE_HEADER = 'x-vmsi-signature';
export const TIMESTAMP_HEADER = 'x-vmsi-timestamp';
export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';
const SIGNATURE = /^sha256=([0-9a-f]{64})$/i;

/** Capped exponential backoff without jitter; the deadline, not a count, ends the retries. */
export const DEFAULT_WEBHOOK_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  initialIntervalMs: 1_000,
  backoffCoefficient: 2,
  maximumIntervalMs: 60_000,
  maximumAttempts: 0,
});
export const DEFAULT_WEBHOOK_DEADLINE_MS = 10 * 60_000;
export const DEFAULT_WEBHOOK_ATTEMPT_TIMEOUT_MS = 10_000;

export interface WebhookNotifierOptions {
  url: string;
  /** Shared HMAC-SHA256 key; copied, never logged. */
  secret: Uint8Array;
  /** How long one event is retried, from the first attempt. */
  deadlineMs?: number;
  /** Bounds one POST, response headers included. */
  attemptTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Injected so backoff tests run instantly. */
  clock?: Clock;
  logger?: Logger;
}

interface RetryResult {
  kind: 'retry';
  status?: number;
  error: string;
  retryAfterMs?: number;
}

type AttemptResult =
  | { kind: 'delivered'; status: number }
  | RetryResult
  | { kind: 'rejected'; status: number; error: string }
  | { kind: 'aborted'; error: string };

/** One event's delivery: the same body (and so the same signature input) for every attempt. */
interface DeliveryRun {
  eventId: string;
  body: string;
  deadline: number;
  signal: AbortSignal | undefined;
}

/** Re-exported for the receivers' side of the contract; the parser lives with the retry policy. */
export { parseRetryAfter };

export class WebhookNotifier implements Notifier {
  readonly #secret: Buffer;
  private readonly url: URL;
  /** Origin and path only: a query string may carry a receiver's token. */
  private readonly target: string;
  private readonly deadlineMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly retry: RetryPolicy;
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;

  constructor(options: WebhookNotifierOptions) {
    this.url = parseWebhookUrl(options.url);
    this.target = `${this.url.origin}${this.url.pathname}`;
    if (options.secret.length === 0) throw new AppError('INVALID_CONFIG', 'The webhook secret is empty.');
    this.#secret = Buffer.from(options.secret);
    this.deadlineMs = options.deadlineMs ?? DEFAULT_WEBHOOK_DEADLINE_MS;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? DEFAULT_WEBHOOK_ATTEMPT_TIMEOUT_MS;
    this.retry = assertValidRetryPolicy({ ...DEFAULT_WEBHOOK_RETRY_POLICY, ...options.retry });
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
  }

  async notify(event: InjectionEvent, options: NotifyOptions = {}): Promise<DeliveryReport> {
    const run: DeliveryRun = { eventId: event.id, body: JSON.stringify(event), deadline: this.clock.now() + this.deadlineMs, signal: options.signal };
    const report: DeliveryReport = { delivered: false, attempts: 0 };
    while (run.signal?.aborted !== true) {
      report.attempts += 1;
      const result = await this.attempt(run);
      recordAttempt(report, result);
      if (result.kind === 'delivered') return { ...report, delivered: true, deliveredAt: new Date(this.clock.now()).toISOString() };
      if (result.kind !== 'retry') return { ...report, gaveUp: result.kind };
      const stopped = await this.waitToRetry(run, report.attempts, result);
      if (stopped !== undefined) return { ...report, gaveUp: stopped };
    }
    return { ...report, gaveUp: 'aborted' };
  }

  private async attempt(run: DeliveryRun): Promise<AttemptResult> {
    const timeout = AbortSignal.timeout(Math.max(1, Math.min(this.attemptTimeoutMs, run.deadline - this.clock.now())));
    try {
      const response = await tracedHttp('POST', this.url, (traceHeaders) =>
        fetch(this.url, {
          method: 'POST',
          body: run.body,
          headers: { ...this.headers(run.body), ...traceHeaders },
        // A redirected POST becomes a GET in fetch; a receiver that redirects has moved, so treat it as final.
        redirect: 'manual',
          signal: run.signal === undefined ? timeout : AbortSignal.any([run.signal, timeout]),
        }),
      );
      await response.body?.cancel().catch(() => undefined);
      return classifyResponse(response, this.clock.now());
    } catch (error) {
      if (run.signal?.aborted) return { kind: 'aborted', error: 'aborted' };
      return { kind: 'retry', error: timeout.aborted ? 'timeout' : describeTransportError(error) };
    }
  }

  /** Waits the backoff, or as long as Retry-After asks if that is longer; says why not when it cannot. */
  private async waitToRetry(run: DeliveryRun, attempts: number, result: RetryResult): Promise<'deadline' | 'attempts' | 'aborted' | undefined> {
    // A retry due exactly at the deadline would get no time for its POST: give up instead.
    const decision = decideRetry(this.retry, { attempts, nowMs: this.clock.now(), deadlineMs: run.deadline - 1, ...(result.retryAfterMs === undefined ? {} : { retryAfterMs: result.retryAfterMs }) });
    if (!decision.retry) return decision.reason;
    const waitMs = decision.delayMs;
    this.logger?.warn('Webhook delivery failed; retrying.', {
      eventId: run.eventId,
      target: this.target,
      attempt: attempts,
      status: result.status,
      error: result.error,
      retryInMs: waitMs,
    });
    return (await this.pause(waitMs, run.signal)) ? undefined : 'aborted';
  }

  private headers(body: string): Record<string, string> {
    return {
      'content-type': CLOUDEVENTS_CONTENT_TYPE,
      'user-agent': 'vm-sidecar-injector',
      [SIGNATURE_HEADER]: signBody(body, this.#secret),
      // Not covered by the signature (the agreed format signs the body only); receivers that want
      // replay protection check the signed `time` attribute and de-duplicate on `id`.
      [TIMESTAMP_HEADER]: String(Math.floor(this.clock.now() / 1000)),
    };
  }

  /** False when the caller aborted while waiting. */
  private async pause(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
    try {
      await this.clock.sleep(ms, signal);
      return !signal?.aborted;
    } catch (error) {
      if (signal?.aborted) return false;
      throw error;
    }
  }
}

function recordAttempt(report: DeliveryReport, result: AttemptResult): void {
  if ('status' in result && result.status !== undefined) report.lastStatus = result.status;
  else delete report.lastStatus;
  if ('error' in result) report.lastError = result.error;
  else delete report.lastError;
}

function classifyResponse(response: Response, nowMs: number): AttemptResult {
  const { status } = response;
  if (status >= 200 && status < 300) return { kind: 'delivered', status };
  if (isRetryableStatus(status)) {
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), nowMs);
    return retryAfterMs === undefined ? { kind: 'retry', status, error: `HTTP ${status}` } : { kind: 'retry', status, error: `HTTP ${status}`, retryAfterMs };
  }
  return { kind: 'rejected', status, error: `HTTP ${status}` };
}

function parseWebhookUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch (cause) {
    throw new AppError('INVALID_CONFIG', 'The webhook URL is not a URL.', { cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AppError('INVALID_CONFIG', 'The webhook URL must be http or https.');
  // fetch refuses URLs with credentials, and they would be written wherever the URL is logged.
  if (url.username !== '' || url.password !== '') throw new AppError('INVALID_CONFIG', 'The webhook URL must not contain credentials.');
  return url;
}

/** `sha256=<hex HMAC-SHA256 of the exact body bytes>`. */
export function signBody(rawBody: string | Uint8Array, secret: Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

/** For receivers: checks X-Vmsi-Signature against the raw body in constant time. */
export function verifySignature(rawBody: string | Uint8Array, header: string | null | undefined, secret: Uint8Array): boolean {
  const match = SIGNATURE.exec(header?.trim() ?? '');
  if (match === null || secret.length === 0) return false;
  const given = Buffer.from(match[1] as string, 'hex');
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}
