import { expect } from 'chai';
import { systemClock } from '../clock.js';
import { InMemoryJobStore } from '../jobs/in-memory-job-store.js';
import { JobRunner } from '../jobs/job-runner.js';
import { newJob, transition } from '../jobs/job.js';
import type { StepDefinition } from '../jobs/step-definition.js';
import { createTestLogger } from '../../test/support/run-log.js';
import { FailureAnnouncer, notificationSubject } from './failure-notifications.js';

const noop: StepDefinition = { name: 'deliver', policy: { attemptTimeoutMs: 1000, retry: { initialIntervalMs: 1, backoffCoefficient: 2, maximumIntervalMs: 1, maximumAttempts: 1 } }, run: () => Promise.resolve() };

describe('failure notifications', function () {
  it('are created after a restart for failed jobs that have none, once', async function () {
    const store = new InMemoryJobStore();
    const runner = new JobRunner({ store, steps: { inject: [noop], notification: [noop] }, clock: systemClock, logger: createTestLogger(), concurrency: 1, stopGraceMs: 0 });
    const job = newJob({ kind: 'inject', subjectKey: 'server-a', input: { spec: {} }, stepNames: ['deliver'], now: Date.now() });
    const { job: stored } = await store.create(job);
    const running = await store.save(transition(stored, 'running', 'test', { now: Date.now() }));
    await store.save(transition(running, 'failed', 'test', { now: Date.now() }));
    const succeeded = await store.create(newJob({ kind: 'inject', subjectKey: 'server-b', input: { spec: {} }, stepNames: ['deliver'], now: Date.now() }));
    const announcer = new FailureAnnouncer({ runner: () => runner, store, logger: createTestLogger() });
    expect(await announcer.recover()).to.equal(1);
    expect(await announcer.recover()).to.equal(0);
    const notifications = await store.list({ kind: 'notification' });
    expect(notifications.map((notification) => notification.subjectKey)).to.deep.equal([notificationSubject(job.id)]);
    expect(notifications[0]?.idempotencyKey).to.equal(`${job.id}.failed`);
    expect(succeeded.created).to.equal(true);
  });
});
