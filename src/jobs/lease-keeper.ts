import { pause, type Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Job } from './job.js';
import type { JobLeases, JobStore } from './job-store.js';

export interface LeaseKeeperOptions {
  store: JobStore;
  leases: JobLeases;
  clock: Clock;
  logger: Logger;
  /** The runner's side of the lease: jobs it is running or has queued to resume. */
  runner: {
    heldJobIds(): string[];
    /** Leases on these jobs went to another runner: drop any not yet started. */
    lost(jobIds: readonly string[]): void;
    /** Jobs whose runner is gone, now leased to this one: resume them. */
    adopt(jobs: readonly Job[]): void;
    /** Time to look for work other runners created. */
    wake(): void;
  };
}

/**
 * A runner's side of a shared store's leases: every renewal interval it renews the leases it
 * holds, takes over running jobs whose lease ran out (their runner died), and wakes the runner so
 * it claims work other replicas accepted. It runs until stop(), which the runner calls only once
 * its steps have finished, so a job draining at shutdown keeps its lease to the end.
 */
export class LeaseKeeper {
  private readonly stopped = new AbortController();
  private readonly loop: Promise<void>;

  constructor(private readonly options: LeaseKeeperOptions) {
    this.loop = this.run();
  }

  /** Ends the loop, then hands back the leases on `jobIds` (jobs left running) so another runner takes them at once. */
  async stop(jobIds: readonly string[]): Promise<void> {
    this.stopped.abort();
    await this.loop;
    if (jobIds.length === 0) return;
    await this.options.leases.release(jobIds).catch((error: unknown) => {
      this.options.logger.warn('Job leases could not be handed back; they run out on their own', { jobIds, error });
    });
  }

  private async run(): Promise<void> {
    const { clock, leases } = this.options;
    while (!this.stopped.signal.aborted) {
      await pause(clock, leases.renewIntervalMs, this.stopped.signal);
      if (this.stopped.signal.aborted) return;
      await this.tend().catch((error: unknown) => this.options.logger.error('Job leases could not be renewed', { error }));
    }
  }

  private async tend(): Promise<void> {
    const { store, leases, logger, runner } = this.options;
    const lost = await leases.renew(runner.heldJobIds());
    if (lost.length > 0) {
      logger.warn('Job leases were taken over by another runner; their next save is refused', { jobIds: lost });
      runner.lost(lost);
    }
    const held = new Set(runner.heldJobIds());
    const orphans = (await store.findRunning()).filter((job) => !held.has(job.id));
    if (orphans.length > 0) {
      logger.info('Taking over jobs whose runner stopped renewing its lease', { jobIds: orphans.map((job) => job.id) });
      runner.adopt(orphans);
    }
    runner.wake();
  }
}
