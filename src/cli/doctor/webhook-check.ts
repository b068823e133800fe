import type { Config } from '../../config.js';
import { check, failedCheck, type CheckResult } from './doctor-check.js';
import type { ServerDate } from './clock-skew-check.js';

const TITLE = 'Orchestrator webhook reachable';
const TIMEOUT_MS = 10_000;

export interface WebhookFindings {
  check: CheckResult;
  dates: ServerDate[];
}

/**
 * A HEAD request: it proves the URL answers without delivering an event the receiver would have
 * to treat (an unsigned POST would only be refused, and a signed one would be a real event).
 */
export async function webhookCheck(config: Config, clock: () => number): Promise<WebhookFindings> {
  const webhook = config.notify.webhook;
  if (webhook === undefined) return { check: check('webhook', TITLE, { status: 'info', detail: 'no notify.webhook in the config' }), dates: [] };
  const sentAtMs = clock();
  let response: Response;
  try {
    response = await fetch(webhook.url, { method: 'HEAD', redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (error) {
    return { check: failedCheck('webhook', TITLE, error instanceof Error && error.cause instanceof Error ? error.cause : error, `Make ${webhook.url} reachable from this host; events are retried for notify.webhook.deadline (${webhook.deadline}) only.`), dates: [] };
  }
  const date = response.headers.get('date');
  const dates = date === null ? [] : [{ server: 'webhook', date, sentAtMs, receivedAtMs: clock() }];
  if (response.status >= 500) {
    return { check: check('webhook', TITLE, { status: 'warn', detail: `${webhook.url} answers HTTP ${response.status}`, hint: 'The receiver is up but failing; events will be retried until it recovers.' }), dates };
  }
  return { check: check('webhook', TITLE, { status: 'pass', detail: `${webhook.url} answers (HTTP ${response.status} to HEAD)` }), dates };
}
