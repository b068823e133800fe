import { pause, type Clock } from '../clock.js';
import { AppError, isAppError, type ErrorCode } from '../errors.js';
import { redactText } from '../log.js';
import type { OperationNotifications } from '../orchestrator/vnf-lifecycle-port.js';
import type { LcmOperationState } from './sol003-fields.js';
import type { LcmOpOccProblem, LcmOpOccWithError } from './vnf-lcm-op-occ.js';

/**
 * Error codes for waiting on an operation, chosen here as tacker-errors.ts chooses the client's:
 * the nearest existing codes, with the ones proposed for them in comments.
 */
export const LCM_WAIT_ERROR_CODES = {
  /** The operation ended FAILED_TEMP, FAILED or ROLLED_BACK. Proposed: TACKER_OPERATION_FAILED. */
  failed: 'REMOTE_COMMAND_FAILED',
  /** The deadline passed, or the caller's step timed out, while it was still running. Proposed: TACKER_OPERATION_TIMEOUT. */
  timeout: 'STEP_TIMEOUT',
  /** The caller aborted for another reason. */
  cancelled: 'INTERNAL',
} as const satisfies Record<string, ErrorCode>;

/**
 * States an operation does not leave by itself. FAILED_TEMP waits for an operator's retry, rollback
 * or fail (SOL 003 §5.4.1.2), so for a waiting caller it is as final as FAILED and ROLLED_BACK.
 */
const FAILED_STATES: ReadonlySet<LcmOperationState> = new Set(['FAILED_TEMP', 'FAILED', 'ROLLED_BACK']);

export interface WaitForLcmOpOccOptions {
  clock: Clock;
  signal?: AbortSignal;
  /** Between two reads of the occurrence; with `notifications`, between two looks at them. */
  pollIntervalMs: number;
  /** Absolute epoch milliseconds on `clock` (as retryUntilDeadline takes it); no read starts after it. */
  deadlineMs: number;
  /** Tacker's result notifications: then Tacker's API is read when one arrives, and otherwise only every apiReadIntervalMs. */
  notifications?: OperationNotifications;
}

/** The part of Tacker's API the wait needs, so that tests may pass a fake. */
export interface LcmOpOccReader {
  getLcmOpOcc(id: string): Promise<LcmOpOccWithError>;
}

/**
 * Reads the occurrence until it is COMPLETED (returned), has failed (non-retryable error carrying
 * its ProblemDetails) or the deadline passes (retryable: the operation may still complete). A read
 * that fails with a retryable error, a 503 or a timeout, is tried again at the next poll.
 * With notifications, a result notified is always confirmed by a read: the notification says when
 * to look, Tacker's API says what happened.
 */
export async function waitForLcmOpOcc(client: LcmOpOccReader, vnfLcmOpOccId: string, options: WaitForLcmOpOccOptions): Promise<LcmOpOccWithError> {
  return (await waitForLcmOpOccEnd(client, vnfLcmOpOccId, options)).opOcc;
}

/** waitForLcmOpOcc, also telling whether the read that saw the end was prompted by a notified result. */
export async function waitForLcmOpOccEnd(client: LcmOpOccReader, vnfLcmOpOccId: string, options: WaitForLcmOpOccOptions): Promise<{ opOcc: LcmOpOccWithError; notified: boolean }> {
  const reads = new OccurrenceReads(client, vnfLcmOpOccId, options);
  while (options.clock.now() <= options.deadlineMs) {
    throwIfAborted(options.signal, vnfLcmOpOccId);
    const completed = await reads.look();
    if (completed !== undefined) return { opOcc: completed, notified: reads.lastReadWasNotified };
    const remainingMs = options.deadlineMs - options.clock.now();
    if (remainingMs <= 0) break;
    await pauseUntilNotified(options, vnfLcmOpOccId, Math.min(Math.max(1, options.pollIntervalMs), remainingMs));
  }
  throwIfAborted(options.signal, vnfLcmOpOccId);
  throw deadlinePassed(vnfLcmOpOccId, reads.last, reads.lastError);
}

/** One wait's reads of the occurrence: when the next is due, and what the last one saw. */
class OccurrenceReads {
  last: LcmOpOccWithError | undefined;
  lastError: AppError | undefined;
  /** The last read was made because a new result was notified, not because a read was due. */
  lastReadWasNotified = false;
  private nextReadAt = Number.NEGATIVE_INFINITY;
  private seenResult: string | undefined;

  constructor(
    private readonly client: LcmOpOccReader,
    private readonly vnfLcmOpOccId: string,
    private readonly options: WaitForLcmOpOccOptions,
  ) {}

  /** The occurrence once COMPLETED; throws once it failed; undefined while it runs or no read was due. */
  async look(): Promise<LcmOpOccWithError | undefined> {
    const due = await this.readDue();
    if (due === undefined) return undefined;
    this.lastReadWasNotified = due === 'notified';
    await this.read();
    if (this.last?.operationState === 'COMPLETED') return this.last;
    if (this.last !== undefined && FAILED_STATES.has(this.last.operationState)) throw operationFailed(this.last);
    return undefined;
  }

  private async readDue(): Promise<'notified' | 'due' | undefined> {
    const result = await latestResult(this.options, this.vnfLcmOpOccId);
    const isNewResult = result !== undefined && result !== this.seenResult;
    if (result !== undefined) this.seenResult = result;
    if (isNewResult) return 'notified';
    // A last read at the deadline: the operation may have ended since the previous one.
    const now = this.options.clock.now();
    return now >= this.nextReadAt || now >= this.options.deadlineMs ? 'due' : undefined;
  }

  private async read(): Promise<void> {
    try {
      this.last = await this.client.getLcmOpOcc(this.vnfLcmOpOccId);
      this.lastError = undefined;
      this.nextReadAt = this.options.clock.now() + (this.options.notifications?.apiReadIntervalMs ?? this.options.pollIntervalMs);
    } catch (error) {
      if (!isAppError(error) || !error.retryable) throw error;
      this.lastError = error;
      this.nextReadAt = this.options.clock.now() + this.options.pollIntervalMs;
    }
  }
}

/** An inbox that cannot be read costs the speed-up, never the wait: Tacker's API is still read on its interval. */
async function latestResult(options: WaitForLcmOpOccOptions, vnfLcmOpOccId: string): Promise<string | undefined> {
  try {
    return await options.notifications?.latestResult(vnfLcmOpOccId);
  } catch {
    return undefined;
  }
}

async function pauseUntilNotified(options: WaitForLcmOpOccOptions, vnfLcmOpOccId: string, ms: number): Promise<void> {
  const notifications = options.notifications;
  if (notifications === undefined) {
    await pause(options.clock, ms, options.signal);
    return;
  }
  // Whichever ends the pause first, the other is released: the timer cleared, the waiter removed.
  const done = new AbortController();
  const signal = options.signal === undefined ? done.signal : AbortSignal.any([options.signal, done.signal]);
  try {
    await Promise.race([pause(options.clock, ms, signal), notifications.arrival(vnfLcmOpOccId, signal)]);
  } finally {
    done.abort();
  }
}

function operationFailed(opOcc: LcmOpOccWithError): AppError {
  const reason = describeProblem(opOcc.error);
  return new AppError(
    LCM_WAIT_ERROR_CODES.failed,
    `Tacker's ${opOcc.operation} operation ${opOcc.id} ended ${opOcc.operationState}${reason === undefined ? '.' : `: ${reason}`}`,
    {
      details: {
        vnfLcmOpOccId: opOcc.id,
        vnfInstanceId: opOcc.vnfInstanceId,
        operation: opOcc.operation,
        operationState: opOcc.operationState,
        ...(opOcc.error === undefined ? {} : { error: redactProblem(opOcc.error) }),
      },
    },
  );
}

/** "title: detail", as Tacker's error ProblemDetails carry the failing step in the title (e.g. "Stack create failed"). */
function describeProblem(problem: LcmOpOccProblem | undefined): string | undefined {
  if (problem === undefined) return undefined;
  const parts = [problem.title, problem.detail].filter((part): part is string => part !== undefined).map(redactText);
  if (parts.length === 0) return undefined;
  const text = parts.join(': ');
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

function redactProblem(problem: LcmOpOccProblem): LcmOpOccProblem {
  return {
    ...(problem.status === undefined ? {} : { status: problem.status }),
    ...(problem.title === undefined ? {} : { title: redactText(problem.title) }),
    ...(problem.detail === undefined ? {} : { detail: redactText(problem.detail) }),
  };
}

function deadlinePassed(vnfLcmOpOccId: string, last: LcmOpOccWithError | undefined, lastError: AppError | undefined): AppError {
  const state = last?.operationState;
  const message =
    state === undefined
      ? `Tacker's LCM operation ${vnfLcmOpOccId} could not be read before the deadline.`
      : `Tacker's LCM operation ${vnfLcmOpOccId} was still ${state} at the deadline.`;
  return new AppError(LCM_WAIT_ERROR_CODES.timeout, message, {
    retryable: true,
    details: { vnfLcmOpOccId, ...(state === undefined ? {} : { operationState: state }) },
    ...(lastError === undefined ? {} : { cause: lastError }),
  });
}

/** An AppError reason is the caller's own; a TimeoutError is the caller's step timing out. */
function throwIfAborted(signal: AbortSignal | undefined, vnfLcmOpOccId: string): void {
  if (signal?.aborted !== true) return;
  const reason: unknown = signal.reason;
  if (reason instanceof AppError) throw reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    throw new AppError(LCM_WAIT_ERROR_CODES.timeout, `The step ran out of time waiting for Tacker's LCM operation ${vnfLcmOpOccId}.`, {
      retryable: true,
      details: { vnfLcmOpOccId },
      cause: reason,
    });
  }
  throw new AppError(LCM_WAIT_ERROR_CODES.cancelled, `Waiting for Tacker's LCM operation ${vnfLcmOpOccId} was cancelled.`, {
    details: { vnfLcmOpOccId, cancelled: true },
    cause: reason,
  });
}
