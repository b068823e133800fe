import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AppError } from '../errors.js';
import { InMemoryJobStore } from './in-memory-job-store.js';
import { newJob, transition, type Job, type JobKind, type JobState } from './job.js';
import type { JobStore } from './job-store.js';
import { SqliteJobStore } from './sqlite-job-store.js';
import { rejection } from '../../test/support/app-error-assertions.js';
import type { PostgresCluster } from '../../test/support/postgres/postgres-cluster.js';
import { acquirePostgresCluster, freshDatabaseUrl, openTestDatabase, releasePostgresCluster } from '../../test/support/postgres/postgres-test-database.js';
import type { PostgresDatabase } from './postgres-database.js';
import { PostgresJobStore } from './postgres-job-store.js';

/** Every JobStore adapter must pass this suite; the runner relies on nothing else. */
interface StoreFactory {
  name: string;
  setUp?(): Promise<void>;
  open(options: { logTailLines: number }): JobStore | Promise<JobStore>;
  tearDown?(): Promise<void>;
}

/** PostgreSQL: one database for the suite, emptied before each test. */
let postgres: { cluster: PostgresCluster; database: PostgresDatabase } | undefined;

const temporaryDirs: string[] = [];

const FACTORIES: StoreFactory[] = [
  { name: 'InMemoryJobStore', open: (options) => new InMemoryJobStore(options) },
  { name: 'SqliteJobStore (:memory:)', open: (options) => SqliteJobStore.open({ path: ':memory:', ...options }) },
  {
    name: 'SqliteJobStore (file, WAL)',
    open: (options) => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-jobs-contract-'));
      temporaryDirs.push(dir);
      return SqliteJobStore.open({ path: path.join(dir, 'jobs.sqlite'), ...options });
    },
  },
  {
    name: 'PostgresJobStore',
    setUp: async () => {
      const cluster = await acquirePostgresCluster();
      postgres = { cluster, database: await openTestDatabase(await freshDatabaseUrl(cluster, 'contract')) };
    },
    open: async (options) => {
      if (postgres === undefined) throw new Error('PostgreSQL was not set up');
      await postgres.database.query('reset', 'TRUNCATE jobs, job_log RESTART IDENTITY');
      return new PostgresJobStore({ database: postgres.database, owner: 'contract-test', leaseMs: 30_000, ...options });
    },
    tearDown: async () => {
      await postgres?.database.close();
      postgres = undefined;
      await releasePostgresCluster();
    },
  },
];

const NOW = Date.UTC(2026, 4, 1, 10);
const LOG_TAIL = 5;

interface JobShape {
  subjectKey?: string;
  kind?: JobKind;
  state?: JobState;
  nextAttemptAt?: number | null;
  idempotencyKey?: string;
}

function makeJob(shape: JobShape = {}): Job {
  const job = newJob({
    kind: shape.kind ?? 'inject',
    subjectKey: shape.subjectKey ?? 'server-a',
    input: { vdu: 'VDU1', ports: [8080] },
    stepNames: ['resolve', 'deliver'],
    idempotencyKey: shape.idempotencyKey ?? null,
    now: NOW,
  });
  return { ...job, state: shape.state ?? 'pending', nextAttemptAt: shape.nextAttemptAt ?? null };
}

function start(job: Job): Job {
  return { ...transition(job, 'running', 'claimed', { now: NOW }), attempt: job.attempt + 1 };
}


for (const factory of FACTORIES) {
  describe(`JobStore contract: ${factory.name}`, function () {
    let store: JobStore;

    before(async function () {
      this.timeout(120_000);
      await factory.setUp?.();
    });

    beforeEach(async function () {
      store = await factory.open({ logTailLines: LOG_TAIL });
    });

    afterEach(async function () {
      await store.close();
    });

    after(async function () {
      for (const dir of temporaryDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
      await factory.tearDown?.();
    });

    async function add(shape: JobShape = {}): Promise<Job> {
      const { job } = await store.create(makeJob(shape));
      return job;
    }

    describe('create, get, list', function () {
      it('stores a job and gives back an equal copy', async function () {
        const job = makeJob();
        const result = await store.create(job);
        expect(result.created).to.equal(true);
        expect(await store.get(job.id)).to.deep.equal(job);
        expect(await store.get('no-such-job')).to.equal(null);
      });

      it('returns the existing job for the same kind and idempotency key, without creating another', async function () {
        const first = await store.create(makeJob({ idempotencyKey: 'op-1:COMPLETED:server-a' }));
        const again = await store.create(makeJob({ idempotencyKey: 'op-1:COMPLETED:server-a' }));
        expect(again.created).to.equal(false);
        expect(again.job.id).to.equal(first.job.id);
        const otherKind = await store.create(makeJob({ kind: 'remove', idempotencyKey: 'op-1:COMPLETED:server-a' }));
        expect(otherKind.created).to.equal(true);
        const unkeyed = [await store.create(makeJob()), await store.create(makeJob())];
        expect(unkeyed.map((result) => result.created)).to.deep.equal([true, true]);
        expect(await store.list()).to.have.length(4);
      });

      it('counts jobs per state exactly, every state reported, past any list limit', async function () {
        expect(Object.values(await store.countByState()).every((count) => count === 0)).to.equal(true);
        const many = 1_050;
        for (let index = 0; index < many; index++) await add({ subjectKey: `server-${index}` });
        await add({ state: 'failed_temp' });
        await add({ state: 'failed_temp' });
        await add({ state: 'succeeded' });
        expect(await store.countByState()).to.deep.equal({ pending: many, running: 0, retry_wait: 0, succeeded: 1, failed_temp: 2, failed: 0 });
      });

      it('refuses a second job with the same id', async function () {
        const job = await add();
        expect((await rejection(store.create({ ...job, stateReason: 'copy' }))).code).to.equal('CONFLICT');
        expect(await store.list()).to.have.length(1);
      });

      it('lists newest first, filtered by state, kind and subject, up to the limit', async function () {
        const a1 = await add({ subjectKey: 'server-a' });
        const b1 = await add({ subjectKey: 'server-b', kind: 'remove' });
        const a2 = await add({ subjectKey: 'server-a', state: 'failed_temp' });
        expect((await store.list()).map((job) => job.id)).to.deep.equal([a2.id, b1.id, a1.id]);
        expect((await store.list({ subjectKey: 'server-a' })).map((job) => job.id)).to.deep.equal([a2.id, a1.id]);
        expect((await store.list({ kind: 'remove' })).map((job) => job.id)).to.deep.equal([b1.id]);
        expect((await store.list({ state: 'failed_temp' })).map((job) => job.id)).to.deep.equal([a2.id]);
        expect((await store.list({ state: ['pending', 'failed_temp'], subjectKey: 'server-a' })).map((job) => job.id)).to.deep.equal([a2.id, a1.id]);
        expect(await store.list({ state: [] })).to.deep.equal([]);
        expect((await store.list({ limit: 2 })).map((job) => job.id)).to.deep.equal([a2.id, b1.id]);
      });

      it('hands out copies: changing a returned job changes nothing stored', async function () {
        const job = await add();
        const copy = await store.get(job.id);
        if (!copy) return expect.fail('job missing');
        copy.steps[0]!.state = 'succeeded';
        copy.input.vdu = 'changed';
        expect(await store.get(job.id)).to.deep.equal(job);
      });
    });

    describe('save', function () {
      it('writes the job and increments its version', async function () {
        const job = await add();
        const saved = await store.save({ ...job, stateReason: 'edited', steps: job.steps.map((step) => ({ ...step, output: { fingerprint: 'SHA256:x' } })) });
        expect(saved.version).to.equal(job.version + 1);
        expect(await store.get(job.id)).to.deep.equal(saved);
      });

      it('rejects a stale version with CONFLICT and an unknown job with NOT_FOUND', async function () {
        const job = await add();
        await store.save(job);
        expect((await rejection(store.save({ ...job, stateReason: 'late writer' }))).code).to.equal('CONFLICT');
        expect((await store.get(job.id))?.stateReason).to.equal('created');
        expect((await rejection(store.save(makeJob()))).code).to.equal('NOT_FOUND');
      });
    });

    describe('claimNext', function () {
      it('claims the oldest runnable job, applying the start callback and saving it', async function () {
        const older = await add({ subjectKey: 'server-a' });
        await add({ subjectKey: 'server-b' });
        const claimed = await store.claimNext({ now: NOW, start });
        expect(claimed).to.include({ id: older.id, state: 'running', attempt: 1, version: older.version + 1 });
        expect(await store.get(older.id)).to.deep.equal(claimed);
      });

      it('is fair across subjects: one busy VM does not starve the others', async function () {
        await add({ subjectKey: 'server-a' });
        await add({ subjectKey: 'server-a' });
        await add({ subjectKey: 'server-a' });
        const b = await add({ subjectKey: 'server-b' });
        const first = await store.claimNext({ now: NOW, start });
        const second = await store.claimNext({ now: NOW, start });
        expect(first?.subjectKey).to.equal('server-a');
        expect(second?.id).to.equal(b.id);
        expect(await store.claimNext({ now: NOW, start })).to.equal(null);
      });

      it('never claims a job whose subject has a running job', async function () {
        await add({ subjectKey: 'server-a', state: 'running' });
        await add({ subjectKey: 'server-a' });
        expect(await store.claimNext({ now: NOW, start })).to.equal(null);
      });

      it('keeps creation order per subject: an older job waiting for a retry or an operator holds the subject', async function () {
        const waiting = await add({ subjectKey: 'server-a', state: 'retry_wait', nextAttemptAt: NOW + 60_000 });
        const removal = await add({ subjectKey: 'server-a', kind: 'remove' });
        expect(await store.claimNext({ now: NOW, start })).to.equal(null);
        await store.save({ ...waiting, state: 'failed_temp', nextAttemptAt: null });
        expect(await store.claimNext({ now: NOW, start })).to.equal(null);
        await store.save({ ...(await store.get(waiting.id))!, state: 'failed' });
        expect((await store.claimNext({ now: NOW, start }))?.id).to.equal(removal.id);
      });

      it('claims a retry_wait job only once its nextAttemptAt has come', async function () {
        const waiting = await add({ state: 'retry_wait', nextAttemptAt: NOW + 5_000 });
        expect(await store.claimNext({ now: NOW + 4_999, start })).to.equal(null);
        expect((await store.claimNext({ now: NOW + 5_000, start }))?.id).to.equal(waiting.id);
      });

      it('ignores final and failed_temp jobs', async function () {
        await add({ subjectKey: 'a', state: 'succeeded' });
        await add({ subjectKey: 'b', state: 'failed' });
        await add({ subjectKey: 'c', state: 'failed_temp' });
        expect(await store.claimNext({ now: NOW, start })).to.equal(null);
      });

      it('changes nothing when the start callback throws or returns something other than the running job', async function () {
        const job = await add();
        await rejection(store.claimNext({ now: NOW, start: () => { throw new AppError('CONFLICT', 'no'); } }));
        const wrong = await rejection(store.claimNext({ now: NOW, start: (claimed) => claimed }));
        expect(wrong.code).to.equal('INTERNAL');
        expect(await store.get(job.id)).to.deep.equal(job);
      });
    });

    describe('recovery and wake-up queries', function () {
      it('finds running jobs oldest first', async function () {
        const first = await add({ subjectKey: 'a', state: 'running' });
        await add({ subjectKey: 'b' });
        const second = await add({ subjectKey: 'c', state: 'running' });
        expect((await store.findRunning()).map((job) => job.id)).to.deep.equal([first.id, second.id]);
      });

      it('reports the earliest retry due after a given time', async function () {
        expect(await store.earliestRetryAfter(NOW)).to.equal(null);
        await add({ subjectKey: 'a', state: 'retry_wait', nextAttemptAt: NOW + 9_000 });
        await add({ subjectKey: 'b', state: 'retry_wait', nextAttemptAt: NOW + 3_000 });
        await add({ subjectKey: 'c', state: 'retry_wait', nextAttemptAt: NOW - 1_000 });
        expect(await store.earliestRetryAfter(NOW)).to.equal(NOW + 3_000);
        expect(await store.earliestRetryAfter(NOW + 3_000)).to.equal(NOW + 9_000);
      });
    });

    describe('log tail', function () {
      it('keeps only the newest lines, oldest first', async function () {
        const job = await add();
        await store.appendLog(job.id, [1, 2, 3].map((n) => ({ at: NOW + n, line: `line ${n}` })));
        await store.appendLog(job.id, [4, 5, 6, 7].map((n) => ({ at: NOW + n, line: `line ${n}` })));
        const log = await store.readLog(job.id);
        expect(log.map((entry) => entry.line)).to.deep.equal(['line 3', 'line 4', 'line 5', 'line 6', 'line 7']);
        expect(log[0]).to.deep.equal({ at: NOW + 3, line: 'line 3' });
      });

      it('keeps logs of different jobs apart and refuses unknown jobs', async function () {
        const a = await add({ subjectKey: 'a' });
        const b = await add({ subjectKey: 'b' });
        await store.appendLog(a.id, [{ at: NOW, line: 'for a' }]);
        expect(await store.readLog(b.id)).to.deep.equal([]);
        expect((await rejection(store.appendLog('no-such-job', [{ at: NOW, line: 'x' }]))).code).to.equal('NOT_FOUND');
        expect((await rejection(store.readLog('no-such-job'))).code).to.equal('NOT_FOUND');
      });
    });
  });
}
