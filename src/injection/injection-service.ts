import { AppError } from '../errors.js';
import type { InjectionSpec } from '../injection-spec.js';
import type { JobKind, JobState, JsonObject } from '../jobs/job.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { JobStore } from '../jobs/job-store.js';
import { parseInjectionSpec } from '../injection-spec.js';
import { subjectKeyOf } from './injection-target.js';
import { toJobView, type JobView } from './job-view.js';
import { notificationSubject } from './failure-notifications.js';
import { vmInventory, type VnfVms } from './vm-inventory.js';
import { MAX_LIST_LIMIT } from '../jobs/job-store.js';

export interface SubmitResult {
  job: JobView;
  created: boolean;
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
    const view = toJobView(job, await this.options.store.readLog(jobId));
    const notifications = await this.options.store.list({ kind: 'notification', subjectKey: notificationSubject(jobId) });
    return notifications.length === 0 ? view : { ...view, notifications: notifications.map((notification) => ({ id: notification.id, state: notification.state, report: notification.steps[0]?.output ?? null })) };
  }

  async list(filter: { state?: JobState; kind?: JobKind; limit?: number }): Promise<JobView[]> {
    return (await this.options.store.list(filter)).map((job) => toJobView(job));
  }

  /** VMs per VNF instance, from the newest injection or removal job of each VM. */
  async vms(): Promise<VnfVms[]> {
    const [injections, removals] = await Promise.all([this.options.store.list({ kind: 'inject', limit: MAX_LIST_LIMIT }), this.options.store.list({ kind: 'remove', limit: MAX_LIST_LIMIT })]);
    return vmInventory([...injections, ...removals]);
  }

  /** The spec of the newest injection of this VM, which its removal must undo. */
  async injectedSpec(subjectKey: string): Promise<InjectionSpec | undefined> {
    const [latest] = await this.options.store.list({ kind: 'inject', subjectKey, limit: 1 });
    return latest === undefined ? undefined : parseInjectionSpec(latest.input.spec);
  }

  /**
   * For a VM whose certificates expired while it was off (Istio users' lesson 1): a new injection of
   * the same spec mints a fresh token; the install finds the package in place, rewrites only the
   * token and restarts the agent.
   */
  async reonboard(jobId: string, idempotencyKey?: string): Promise<SubmitResult> {
    const job = await this.options.store.get(jobId);
    if (job === null || job.kind !== 'inject') throw new AppError('NOT_FOUND', `No injection job ${jobId} to re-onboard from.`, { details: { jobId } });
    // The original context (VNF instance, server) keeps labelling the VM's WorkloadEntry.
    const context = job.input.context;
    const earlier = typeof context === 'object' && context !== null && !Array.isArray(context) ? context : {};
    return this.submit('inject', parseInjectionSpec(job.input.spec), idempotencyKey, { ...earlier, reonboardOf: jobId });
  }

  async retry(jobId: string): Promise<JobView> {
    return toJobView(await this.options.runner.retry(jobId));
  }

  async abandon(jobId: string): Promise<JobView> {
    return toJobView(await this.options.runner.abandon(jobId));
  }
}
