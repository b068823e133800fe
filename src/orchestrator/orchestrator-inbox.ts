import { z } from 'zod';
import { INJECTION_EVENT_TYPES, type InjectionEvent, type InjectionOutcome } from '../notify/notifier.js';
import { formatZodProblems } from '../validation.js';
import { AppError } from '../errors.js';

/** What the orchestrator keeps of one injector event: enough to decide and to report, never more. */
export interface ReceivedInjectionEvent {
  source: string;
  id: string;
  outcome: InjectionOutcome;
  /** Nova server id, or the VM name for VMs injected without one. */
  subject: string;
  jobId: string;
  vmName: string;
  address: string;
  /** When the injector reached the outcome (the event's `time`), epoch ms. */
  time: number;
  receivedAt: number;
  failure?: { code: string; message: string; step: string };
}

const OUTCOME_BY_TYPE = new Map<string, InjectionOutcome>(Object.entries(INJECTION_EVENT_TYPES).map(([outcome, type]) => [type, outcome as InjectionOutcome]));

/** CloudEvents 1.0 structured mode as the injector sends it (src/notify/notifier.ts); unknown fields are kept out. */
export const injectionEventSchema = z.object({
  specversion: z.literal('1.0'),
  id: z.string().min(1).max(256),
  source: z.string().min(1).max(1024),
  type: z.enum(Object.values(INJECTION_EVENT_TYPES) as [string, ...string[]]),
  subject: z.string().min(1).max(256),
  time: z.iso.datetime({ offset: true }),
  data: z.object({
    jobId: z.string().min(1).max(128),
    vmName: z.string().max(255),
    address: z.string().max(64),
    failure: z.object({ code: z.string().max(64), message: z.string().max(2048), step: z.string().max(64) }).optional(),
  }),
});

export function parseInjectionEvent(body: unknown, receivedAt: number): ReceivedInjectionEvent {
  const parsed = injectionEventSchema.safeParse(body);
  if (!parsed.success) throw new AppError('INVALID_REQUEST', 'The body is not an injection CloudEvent.', { problems: formatZodProblems(parsed.error) });
  const event = parsed.data;
  return {
    source: event.source,
    id: event.id,
    outcome: OUTCOME_BY_TYPE.get(event.type) as InjectionOutcome,
    subject: event.subject,
    jobId: event.data.jobId,
    vmName: event.data.vmName,
    address: event.data.address,
    time: Date.parse(event.time),
    receivedAt,
    ...(event.data.failure === undefined ? {} : { failure: event.data.failure }),
  };
}

export type { InjectionEvent };

/** The result states of an LCM operation occurrence the orchestrator waits for (its subscription asks for these only). */
export const OPERATION_RESULT_STATES = ['COMPLETED', 'FAILED_TEMP', 'FAILED', 'ROLLED_BACK'] as const;
export type OperationResultState = (typeof OPERATION_RESULT_STATES)[number];

/**
 * What the orchestrator keeps of one Tacker VnfLcmOperationOccurrenceNotification: which operation
 * reached which result. The notification only wakes the waiting deployment; what the operation did
 * (its error, the VNF's new VMs or pods) is read from Tacker's API, never taken from the body.
 */
export interface ReceivedOperationEvent {
  vnfLcmOpOccId: string;
  vnfInstanceId: string;
  operation: string;
  operationState: OperationResultState;
  /** Tacker's timeStamp, epoch ms: an occurrence retried after FAILED_TEMP has a newer result. */
  time: number;
  receivedAt: number;
}

/** How long operation results are kept: far beyond any operation timeout, short enough that the table stays small. */
export const OPERATION_EVENT_RETENTION_MS = 7 * 24 * 3_600_000;

/**
 * The orchestrator's inbox: the injector's CloudEvents and Tacker's operation results, stored
 * before the 204 so a deployment resumed after a crash, or running on another replica, sees them.
 */
export interface OrchestratorInbox {
  /** false when (source, id) was already stored: CloudEvents redeliveries are ignored. */
  recordInjectionEvent(event: ReceivedInjectionEvent): Promise<boolean>;
  /** The newest event (by the injector's time) for each subject that has one. */
  latestInjectionEvents(subjects: readonly string[]): Promise<Map<string, ReceivedInjectionEvent>>;
  /**
   * false when this occurrence's result in this state was already stored (a second subscription,
   * or two replicas racing). Results older than OPERATION_EVENT_RETENTION_MS are dropped on the way.
   */
  recordOperationEvent(event: ReceivedOperationEvent): Promise<boolean>;
  /** The newest result Tacker notified for the occurrence, by Tacker's time. */
  latestOperationEvent(vnfLcmOpOccId: string): Promise<ReceivedOperationEvent | undefined>;
  close(): Promise<void>;
}
