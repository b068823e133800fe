import { expect } from 'chai';
import { InMemoryJobStore } from '../jobs/in-memory-job-store.js';
import { newJob } from '../jobs/job.js';
import type { JobListFilter } from '../jobs/job-store.js';
import type { Job } from '../jobs/job.js';
import { createServiceMetrics } from './metrics.js';

/** Counts list() calls: a scrape must not list jobs. */
class ListCountingStore extends InMemoryJobStore {
  lists = 0;

  override list(filter?: JobListFilter): Promise<Job[]> {
    this.lists += 1;
    return super.list(filter);
  }
}

describe('service metrics', function () {
  it('reports exact job counts per state past 1,000 jobs, without listing jobs at scrape', async function () {
    const store = new ListCountingStore();
    for (let index = 0; index < 1_200; index++) {
      await store.create(newJob({ kind: 'inject', subjectKey: `server-${index}`, input: {}, stepNames: ['resolve'], idempotencyKey: null, now: 0 }));
    }
    const metrics = createServiceMetrics();
    metrics.trackJobStates(store);
    const text = await metrics.registry.metrics();
    expect(text).to.match(/^vmsi_jobs\{state="pending"\} 1200$/m);
    expect(text).to.match(/^vmsi_jobs\{state="failed"\} 0$/m);
    expect(store.lists).to.equal(0);
  });
});
