/**
 * How the orchestrator learns that a VM joined the mesh, failed to, or left it: a CloudEvents 1.0
 * event (structured JSON mode). The event `id` is derived from the job and its outcome, so a
 * receiver that de-duplicates on (source, id), as CloudEvents asks, ignores redeliveries.
 */

export const INJECTION_EVENT_TYPES = {
  succeeded: 'dev.vmsi.injection.succeeded',
  failed: 'dev.vmsi.injection.failed',
  removed: 'dev.vmsi.injection.removed',
} as const;

export type InjectionOutcome = keyof typeof INJECTION_EVENT_TYPES;
export type InjectionEventType = (typeof INJECTION_EVENT_TYPES)[InjectionOutcome];

export const DEFAULT_EVENT_SOURCE = '/vm-sidecar-injector';

export interface InjectionEventData {
  jobId: string;
  serverId?: string;
  vmName: string;
  address: string;
  mesh: { namespace: string; workloadGroup: string; serviceAccount: string; spiffeId: string; network: string };
  timings: { startedAt: string; finishedAt: string; steps: Record<string, number> };
  failure?: { code: string; message: string; step: string };
}

export interface InjectionEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: InjectionEventType;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  data: InjectionEventData;
}

export interface DeliveryReport {
  delivered: boolean;
  attempts: number;
  /** HTTP status of the last response, when there was one. */
  lastStatus?: number;
  /** Why the last attempt failed: `HTTP 503`, an errno such as `ECONNREFUSED`, `timeout`. */
  lastError?: string;
  deliveredAt?: string;
  /** Why delivery stopped without success: the receiver refused the event, time ran out, or the caller aborted. */
  gaveUp?: 'rejected' | 'deadline' | 'attempts' | 'aborted';
}

export interface NotifyOptions {
  signal?: AbortSignal;
}

export interface Notifier {
  /** Never throws for delivery problems: the report says what happened, the caller decides what it means. */
  notify(event: InjectionEvent, options?: NotifyOptions): Promise<DeliveryReport>;
}

export interface InjectionEventInput {
  outcome: InjectionOutcome;
  data: InjectionEventData;
  /** When the outcome was reached; RFC 3339. */
  time: Date;
  source?: string;
}

/** One id per job and outcome: redelivering, or re-sending after a crash, yields the same id. */
export function injectionEventId(jobId: string, outcome: InjectionOutcome): string {
  return `${jobId}.${outcome}`;
}

export function createInjectionEvent(input: InjectionEventInput): InjectionEvent {
  const { data } = input;
  return {
    specversion: '1.0',
    id: injectionEventId(data.jobId, input.outcome),
    source: input.source ?? DEFAULT_EVENT_SOURCE,
    type: INJECTION_EVENT_TYPES[input.outcome],
    subject: data.serverId ?? data.vmName,
    time: input.time.toISOString(),
    datacontenttype: 'application/json',
    data,
  };
}
