import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Job } from '../jobs/job.js';
import { MAX_LIST_LIMIT, type JobStore } from '../jobs/job-store.js';

export interface CertificateRenewalOptions {
  store: JobStore;
  /** Submits the fresh injection (InjectionService.reonboard). */
  reonboard(jobId: string): Promise<unknown>;
  clock: Clock;
  renewBeforeMs: number;
  intervalMs: number;
  logger: Logger;
  /**
   * Runs the sweep on one replica at a time (skipping it while another replica sweeps), so two
   * replicas never re-issue one VM's certificate twice; each sweep sees the re-issues of the last.
   */
  exclusive?: (sweep: () => Promise<number>) => Promise<number | undefined>;
}

function certificateNotAfter(job: Job): number | undefined {
  const output = job.steps.find((step) => step.name === 'deliver')?.output;
  if (typeof output !== 'object' || output === null || Array.isArray(output)) return undefined;
  const certificate = output.certificate;
  if (typeof certificate !== 'object' || certificate === null || Array.isArray(certificate) || typeof certificate.notAfter !== 'string') return undefined;
  const notAfter = Date.parse(certificate.notAfter);
  return Number.isNaN(notAfter) ? undefined : notAfter;
}

/** Newest first in, newest per subject out. */
function newestPerSubject(jobs: readonly Job[]): Job[] {
  const seen = new Map<string, Job>();
  for (const job of jobs) if (!seen.has(job.subjectKey)) seen.set(job.subjectKey, job);
  return [...seen.values()];
}

/**
 * pilot-agent does not rotate file-mounted certificates (docs/istio-ca.md), so with
 * `certificates: istio-ca` this service does: a VM whose newest injection succeeded and whose
 * certificate comes within `renewBeforeMs` of expiry gets a re-onboarding job, which makes a new
 * key and has a new certificate signed. A VM removed since, or whose newest injection is still
 * running or failed, is left alone: the running one will issue a certificate, the failed one waits
 * for an operator. Looks at the newest MAX_LIST_LIMIT injections.
 */
export class CertificateRenewal {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;

  constructor(private readonly options: CertificateRenewalOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      this.sweeping ??= this.sweepOnce()
        .catch((error: unknown) => {
          this.options.logger.warn('Certificate renewal sweep failed', { error });
          return 0;
        })
        .finally(() => (this.sweeping = undefined));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping;
  }

  /** A sweep unless another replica is sweeping; how many re-issues it submitted (0 when skipped). */
  async sweepOnce(): Promise<number> {
    const exclusive = this.options.exclusive ?? ((sweep: () => Promise<number>): Promise<number> => sweep());
    return (await exclusive(() => this.sweep())) ?? 0;
  }

  /** Returns how many re-issues it submitted. */
  async sweep(): Promise<number> {
    const { store, clock, renewBeforeMs, logger } = this.options;
    const injections = newestPerSubject(await store.list({ kind: 'inject', limit: MAX_LIST_LIMIT }));
    let submitted = 0;
    for (const job of injections) {
      const notAfter = job.state === 'succeeded' ? certificateNotAfter(job) : undefined;
      if (notAfter === undefined || notAfter - clock.now() > renewBeforeMs) continue;
      const [removal] = await store.list({ kind: 'remove', subjectKey: job.subjectKey, limit: 1 });
      if (removal !== undefined && removal.createdAt > job.createdAt) continue;
      await this.options.reonboard(job.id);
      logger.info('Certificate re-issue submitted', { jobId: job.id, subjectKey: job.subjectKey, notAfter: new Date(notAfter).toISOString() });
      submitted += 1;
    }
    return submitted;
  }
}
