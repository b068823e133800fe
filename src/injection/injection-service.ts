import { AppError } from '../errors.js';
import type { InjectionSpec } from '../injection-spec.js';
import type { Clock } from '../clock.js';
import type { JobKind, JobState, JsonObject } from '../jobs/job.js';
import type { JobRunner, JobTransitionEvent } from '../jobs/job-runner.js';
import type { JobStore } from '../jobs/job-store.js';
import type { Logger } from '../log.js';
import type { Notifier } from '../notify/notifier.js';
import { parseInjectionSpec } from '../injection-spec.js';
import { buildOutcomeEvent } from './injection-events.js';
import { subjectKeyOf } from './injection-target.js';
import { toJobView, type JobView } from './job-view.js';

export interface SubmitResult {
  job: JobView;
  created: boolean;
}

/**
 * Sends `…injection.failed` when a job gives up (failed, or failed_temp awaiting an operator).
 * Fire-and-forget with the notifier's own deadline; pending sends are awaited on shutdown.
 */
export class FailureAnnouncer {
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly options: { notifier?: Notifier; clock: Clock; logger: Logger }) {}

  onTransition(event: JobTransitionEvent): void {
    if (this.options.notifier === undefined || (event.to !== 'failed' && event.to !== 'failed_temp')) return;
    const { notifier, clock, logger } = this.options;
    const outcomeEvent = buildOutcomeEvent({ job: event.job, spec: parseInjectionSpec(event.job.input.spec), outcome: 'failed', now: clock.now() });
    const sending: Promise<void> = notifier
      .notify(outcomeEvent)
      .then((report) => {
        logger.info('Failure notification finished', { jobId: event.job.id, eventId: outcomeEvent.id, delivered: report.delivered, attempts: report.attempts });
      })
      .catch((error: unknown) => {
        logger.warn('Failure notification could not be sent', { jobId: event.job.id, error });
      })
      .finally(() => this.pending.delete(sending));
    this.pending.add(sending);
  }

  async settle(): Promise<void> {
    await Promise.all([...this.pending]);
  }
}

export interface InjectionServiceOptions {
  runner: JobRunner;
  store: JobStore;
}

/** What the API and CLI call: submit work, inspect it, and make the operator's decisions. */
export class InjectionService {
  constructor(private readonly options: InjectionServiceOptions) {}

  /** `context` travels with the job (what Tacker or Nova said about the VM); it must hold no secret. */
  async submit(kind: JobKind, spec: InjectionSpec, idempotencyKey?: string, context?: JsonObject): Promise<SubmitResult> {
    const input: JsonObject = { spec: JSON.parse(JSON.stringify(spec)) as JsonObject, ...(context === undefined ? {} : { context }) };
    const result = await this.options.runner.submit({ kind, subjectKey: subjectKeyOf(spec), input, ...(idempotencyKey === undefined ? {} : { idempotencyKey }) });
    // A replayed Idempotency-Key must carry the same request (IETF idempotency-key draft): the same
    // key with another spec is a client bug that would otherwise silently drop the second request.
    if (!result.created && JSON.stringify(result.job.input) !== JSON.stringify(input)) {
      throw new AppError('CONFLICT', 'This idempotency key was already used for a different request.', { details: { jobId: result.job.id } });
    }
    return { job: toJobView(result.job), created: result.created };
  }

  async get(jobId: string): Promise<JobView> {
    const job = await this.options.store.get(jobId);
    if (job === null) throw new AppError('NOT_FOUND', `No injection job ${jobId}.`, { details: { jobId } });
    return toJobView(job, await this.options.store.readLog(jobId));
  }

  async list(filter: { state?: JobState; kind?: JobKind; limit?: number }): Promise<JobView[]> {
    return (await this.options.store.list(filter)).map((job) => toJobView(job));
  }

  /** The spec of the newest injection of this VM, which its removal must undo. */
  async injectedSpec(subjectKey: string): Promise<InjectionSpec | undefined> {
    const [latest] = await this.options.store.list({ kind: 'inject', subjectKey, limit: 1 });
    return latest === undefined ? undefined : parseInjectionSpec(latest.input.spec);
  }

  async retry(jobId: string): Promise<JobView> {
    return toJobView(await this.options.runner.retry(jobId));
  }

  async abandon(jobId: string): Promise<JobView> {
    return toJobView(await this.options.runner.abandon(jobId));
  }
}
