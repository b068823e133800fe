import { expect } from 'chai';
import { InMemoryJobStore } from '../jobs/in-memory-job-store.js';
import { newJob, type Job, type JobKind, type JobState } from '../jobs/job.js';
import { ManualClock } from '../jobs/manual-clock.js';
import { createTestLogger } from '../../test/support/run-log.js';
import { CertificateRenewal } from './certificate-renewal.js';

const HOUR = 3_600_000;

describe('certificate renewal (istio-ca mode)', function () {
  let clock: ManualClock;
  let store: InMemoryJobStore;
  let reonboarded: string[];
  let renewal: CertificateRenewal;

  beforeEach(function () {
    clock = new ManualClock();
    store = new InMemoryJobStore();
    reonboarded = [];
    renewal = new CertificateRenewal({
      store,
      reonboard: (jobId) => Promise.resolve(void reonboarded.push(jobId)),
      clock,
      renewBeforeMs: 8 * HOUR,
      intervalMs: 60_000,
      logger: createTestLogger(),
    });
  });

  async function addJob(kind: JobKind, subjectKey: string, state: JobState, notAfterMs?: number): Promise<Job> {
    const job = newJob({ kind, subjectKey, input: {}, stepNames: ['resolve', 'deliver'], now: clock.now() });
    const deliver = notAfterMs === undefined ? null : { certificate: { notAfter: new Date(notAfterMs).toISOString() } };
    const stored: Job = { ...job, state, steps: job.steps.map((step) => (step.name === 'deliver' ? { ...step, output: deliver } : step)) };
    await store.create(stored);
    await clock.advance(1_000);
    return stored;
  }

  it('re-issues only certificates within renewBefore of expiry, once per VM', async function () {
    const expiring = await addJob('inject', 'vm-a', 'succeeded', clock.now() + 7 * HOUR);
    await addJob('inject', 'vm-b', 'succeeded', clock.now() + 20 * HOUR);
    await addJob('inject', 'vm-c', 'succeeded');
    expect(await renewal.sweep()).to.equal(1);
    expect(reonboarded).to.deep.equal([expiring.id]);
  });

  it('leaves alone VMs removed since, and VMs whose newest injection is still running or failed', async function () {
    await addJob('inject', 'vm-removed', 'succeeded', clock.now() + HOUR);
    await addJob('remove', 'vm-removed', 'succeeded');
    await addJob('inject', 'vm-busy', 'succeeded', clock.now() + HOUR);
    await addJob('inject', 'vm-busy', 'running');
    await addJob('inject', 'vm-failed', 'succeeded', clock.now() + HOUR);
    await addJob('inject', 'vm-failed', 'failed');
    expect(await renewal.sweep()).to.equal(0);
  });

  it('renews a VM injected again after an earlier removal', async function () {
    await addJob('remove', 'vm-back', 'succeeded');
    const again = await addJob('inject', 'vm-back', 'succeeded', clock.now() + HOUR);
    expect(await renewal.sweep()).to.equal(1);
    expect(reonboarded).to.deep.equal([again.id]);
  });
});
