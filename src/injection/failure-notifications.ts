import type { Clock } from '../clock.js';
import { parseInjectionSpec } from '../injection-spec.js';
import type { Job, JsonValue } from '../jobs/job.js';
import type { JobRunner, JobTransitionEvent } from '../jobs/job-runner.js';
import type { JobStore } from '../jobs/job-store.js';
import { retryPolicy } from '../retry/retry-policy.js';
import type { StepDefinition } from '../jobs/step-definition.js';
import type { Logger } from '../log.js';
import { injectionEventId, type Notifier } from '../notify/notifier.js';
import { buildOutcomeEvent } from './injection-events.js';

const ANNOUNCED_STATES = new Set(['failed', 'failed_temp']);

export function notificationSubject(jobId: string): string {
  return `notify:${jobId}`;
}

/**
 * `…injection.failed` is a durable job of its own, keyed by the event id: created when a VM job
 * gives up, found again at start for any that a crash kept from being created, retried by the
 * notifier until its deadline, and visible in the failed job's view.
 */
export class FailureAnnouncer {
  constructor(private readonly options: { runner: () => JobRunner; store: JobStore; logger: Logger }) {}

  onTransition(event: JobTransitionEvent): void {
    if (!this.isAnnounced(event.job.kind, event.to)) return;
    this.announce(event.job.id).catch((error: unknown) => this.options.logger.warn('Failure notification could not be stored', { jobId: event.job.id, error }));
  }

  /** After a crash: every failed job without its notification gets one. */
  async recover(): Promise<number> {
    let created = 0;
    for (const state of ['failed', 'failed_temp'] as const) {
      for (const job of await this.options.store.list({ state, limit: 1000 })) {
        if (this.isAnnounced(job.kind, job.state) && (await this.announce(job.id))) created += 1;
      }
    }
    return created;
  }

  private isAnnounced(kind: string, state: string): boolean {
    return (kind === 'inject' || kind === 'remove') && ANNOUNCED_STATES.has(state);
  }

  private async announce(jobId: string): Promise<boolean> {
    const { created } = await this.options.runner().submit({
      kind: 'notification',
      subjectKey: notificationSubject(jobId),
      input: { jobId, outcome: 'failed' },
      idempotencyKey: injectionEventId(jobId, 'failed'),
    });
    return created;
  }
}

export function createNotificationSteps(options: { store: JobStore; notifier: Notifier; clock: Clock; deadlineMs: number }): StepDefinition[] {
  return [
    {
      name: 'deliver',
      policy: { attemptTimeoutMs: options.deadlineMs + 30_000, retry: retryPolicy({ maximumAttempts: 3 }) },
      run: async (context): Promise<JsonValue> => {
        const jobId = context.job.input.jobId;
        if (typeof jobId !== 'string') return { delivered: false, skipped: 'the notification names no job' };
        const failed: Job | null = await options.store.get(jobId);
        if (failed === null) return { delivered: false, skipped: `job ${jobId} no longer exists` };
        const event = buildOutcomeEvent({ job: failed, spec: parseInjectionSpec(failed.input.spec), outcome: 'failed', now: options.clock.now() });
        const report = await options.notifier.notify(event, { signal: context.signal });
        context.appendLog(`notify: ${event.type} ${report.delivered ? 'delivered' : `not delivered (${report.gaveUp ?? report.lastError ?? 'unknown'})`} after ${report.attempts} attempt(s)`);
        return { eventId: event.id, ...report };
      },
    },
  ];
}
