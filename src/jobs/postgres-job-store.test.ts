import { expect } from 'chai';
import { rejection } from '../../test/support/app-error-assertions.js';
import type { PostgresCluster } from '../../test/support/postgres/postgres-cluster.js';
import { acquirePostgresCluster, freshDatabaseUrl, openTestDatabase, releasePostgresCluster } from '../../test/support/postgres/postgres-test-database.js';
import { createTestLogger } from '../../test/support/run-log.js';
import { systemClock } from '../clock.js';
import { AppError } from '../errors.js';
import { newJob, transition, type Job } from './job.js';
import { JobRunner } from './job-runner.js';
import { PostgresDatabase, SCHEMA_VERSION } from './postgres-database.js';
import { PostgresJobStore } from './postgres-job-store.js';
import type { StepDefinition } from './step-definition.js';

const NOW = Date.UTC(2026, 4, 1, 10);
/** Short enough to watch leases run out in a test, long enough for a loaded machine to renew them. */
const LEASE_MS = 1_200;

function makeJob(subjectKey: string, idempotencyKey: string | null = null): Job {
  return newJob({ kind: 'inject', subjectKey, input: {}, stepNames: ['resolve', 'deliver'], idempotencyKey, now: NOW });
}

function start(job: Job): Job {
  return { ...transition(job, 'running', 'claimed', { now: NOW }), attempt: job.attempt + 1 };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('PostgresJobStore shared by several replicas', function () {
  this.timeout(60_000);
  let cluster: PostgresCluster;
  let url: string;
  const opened: PostgresDatabase[] = [];

  async function database(): Promise<PostgresDatabase> {
    const db = await openTestDatabase(url);
    opened.push(db);
    return db;
  }

  async function replica(owner: string, leaseMs = LEASE_MS): Promise<PostgresJobStore> {
    return new PostgresJobStore({ database: await database(), owner, leaseMs });
  }

  before(async function () {
    this.timeout(120_000);
    cluster = await acquirePostgresCluster();
  });

  beforeEach(async function () {
    url = await freshDatabaseUrl(cluster, 'replicas');
  });

  afterEach(async function () {
    for (const db of opened.splice(0)) await db.close();
  });

  after(async function () {
    await releasePostgresCluster();
  });

  describe('migrations', function () {
    it('creates the schema once, even when replicas start at the same moment, and records its version', async function () {
      const dbs = await Promise.all([database(), database(), database()]);
      expect(await dbs[0].schemaVersion()).to.equal(SCHEMA_VERSION);
      const rows = await cluster.query(url.split('/').pop()!.split('?')[0]!, 'SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.trim().split('\n')).to.deep.equal(Array.from({ length: SCHEMA_VERSION }, (_, index) => String(index + 1)));
    });

    it('refuses a database written by a newer release', async function () {
      const db = await database();
      await db.query('test', 'INSERT INTO schema_migrations (version) VALUES (99)');
      const error = await rejection(openTestDatabase(url));
      expect(error.message).to.match(/schema version 99/);
    });

    it('reports an unreachable database as a retryable AppError without the URL in the message', async function () {
      const error = await rejection(openTestDatabase(`postgresql://vmsi@localhost/nothing?host=${encodeURIComponent('/nonexistent-vmsi-socket-dir')}`));
      expect(error).to.be.instanceOf(AppError);
      expect(error.retryable).to.equal(true);
      expect(error.message).not.to.include('nonexistent');
    });
  });

  describe('claims and leases', function () {
    it('refuses a lease too short to renew sensibly', async function () {
      const db = await database();
      expect(() => new PostgresJobStore({ database: db, owner: 'x', leaseMs: 10 })).to.throw(AppError).with.property('code', 'INVALID_CONFIG');
    });

    it('lets two replicas claim side by side without handing one job out twice or running two jobs of one VM at once', async function () {
      const [a, b] = [await replica('replica-a', 60_000), await replica('replica-b', 60_000)];
      for (let n = 0; n < 30; n++) await a.create(makeJob(`server-${n % 6}`));
      const claims = await Promise.all(Array.from({ length: 40 }, (_, n) => (n % 2 === 0 ? a : b).claimNext({ now: NOW, start })));
      const claimed = claims.filter((job): job is Job => job !== null);
      expect(claimed.map((job) => job.subjectKey).sort(), 'one job per VM, each VM once').to.deep.equal(['server-0', 'server-1', 'server-2', 'server-3', 'server-4', 'server-5']);
      const running = await a.list({ state: 'running' });
      expect(running).to.have.length(6);
    });

    it('creates one job when two replicas receive the same notification at once (unique constraint, not a read-then-write)', async function () {
      const [a, b] = [await replica('replica-a'), await replica('replica-b')];
      const results = await Promise.all(Array.from({ length: 10 }, (_, n) => (n % 2 === 0 ? a : b).create(makeJob('vnf:1', 'op-1:COMPLETED'))));
      expect(results.filter((result) => result.created)).to.have.length(1);
      expect(new Set(results.map((result) => result.job.id)).size).to.equal(1);
      expect(await a.list({ kind: 'inject' })).to.have.length(1);
    });

    it('does not hand a job with a live lease to another replica, takes it over once the lease ran out, and fences the old holder', async function () {
      const [a, b] = [await replica('replica-a'), await replica('replica-b')];
      const { job } = await a.create(makeJob('server-a'));
      const claimed = await a.claimNext({ now: NOW, start });
      expect(claimed?.id).to.equal(job.id);
      expect(await b.findRunning(), 'lease still live').to.deep.equal([]);
      await sleep(LEASE_MS + 100);
      const [taken] = await b.findRunning();
      expect(taken?.id).to.equal(job.id);
      expect(taken?.version).to.equal(claimed!.version + 1);
      expect((await rejection(a.save({ ...claimed!, stateReason: 'late write from the old holder' }))).code).to.equal('CONFLICT');
      expect(await a.leases.renew([job.id]), 'the old holder learns it lost the lease').to.deep.equal([job.id]);
      expect(await b.leases.renew([job.id])).to.deep.equal([]);
      const saved = await b.save({ ...taken!, stateReason: 'resumed after takeover' });
      expect(saved.stateReason).to.equal('resumed after takeover');
    });

    it('keeps a lease alive while its holder renews it, and frees it at once when the holder hands it back', async function () {
      const [a, b] = [await replica('replica-a'), await replica('replica-b')];
      const { job } = await a.create(makeJob('server-a'));
      await a.claimNext({ now: NOW, start });
      for (let n = 0; n < 5; n++) {
        await sleep(a.leases.renewIntervalMs);
        expect(await a.leases.renew([job.id])).to.deep.equal([]);
      }
      expect(await b.findRunning(), 'renewed past several lease lengths').to.deep.equal([]);
      await a.leases.release([job.id]);
      expect((await b.findRunning()).map((taken) => taken.id)).to.deep.equal([job.id]);
    });

    it('drops the lease when a job leaves running, so nobody takes over a job waiting for a retry', async function () {
      const [a, b] = [await replica('replica-a'), await replica('replica-b')];
      await a.create(makeJob('server-a'));
      const claimed = await a.claimNext({ now: NOW, start });
      await a.save({ ...transition(claimed!, 'retry_wait', 'step failed', { now: NOW }), nextAttemptAt: NOW + 1 });
      await sleep(LEASE_MS + 100);
      expect(await b.findRunning()).to.deep.equal([]);
      const again = await b.claimNext({ now: NOW + 1, start });
      expect(again?.id).to.equal(claimed!.id);
      expect(await a.leases.renew([claimed!.id]), 'now held by b').to.deep.equal([claimed!.id]);
    });
  });

  describe('database restart', function () {
    it('fails the operations in flight with retryable errors and works again once the server is back, without reopening', async function () {
      const store = await replica('replica-a');
      const { job } = await store.create(makeJob('server-a'));
      const restarting = cluster.restart();
      const during = await store.get(job.id).then(
        () => null,
        (error: unknown) => error,
      );
      await restarting;
      if (during !== null) expect(during).to.be.instanceOf(AppError).with.property('retryable', true);
      let after: Job | null = null;
      for (let attempt = 0; attempt < 20 && after === null; attempt++) {
        after = await store.get(job.id).catch(() => null);
        if (after === null) await sleep(100);
      }
      expect(after?.id).to.equal(job.id);
      expect((await store.create(makeJob('server-b'))).created).to.equal(true);
    });
  });

  describe('runners on two replicas', function () {
    const runners: JobRunner[] = [];

    afterEach(async function () {
      for (const runner of runners.splice(0)) await runner.stop();
    });

    function runnerOn(store: PostgresJobStore, replicaName: string, ranOn: string[]): JobRunner {
      const policy = { attemptTimeoutMs: 60_000, retry: { initialIntervalMs: 100, backoffCoefficient: 1, maximumIntervalMs: 100, maximumAttempts: 3 } };
      const steps: StepDefinition[] = [
        { name: 'resolve', policy, run: () => Promise.resolve({ replica: replicaName }) },
        {
          name: 'deliver',
          policy,
          run: (context) => {
            ranOn.push(replicaName);
            // The first replica hangs here, as a process would that dies mid-install.
            return replicaName === 'dying' ? new Promise((resolve) => context.signal.addEventListener('abort', () => resolve(undefined))) : Promise.resolve(null);
          },
        },
      ];
      const runner = new JobRunner({ store, steps: { inject: steps }, clock: systemClock, logger: createTestLogger('info').child({ replica: replicaName }), concurrency: 2, stopGraceMs: 0 });
      runners.push(runner);
      return runner;
    }

    it('hands the leases of jobs cut short by a clean stop back, so another replica takes them at once', async function () {
      const ranOn: string[] = [];
      const stopping = await replica('stopping', 60_000);
      const other = await replica('other', 60_000);
      const runner = runnerOn(stopping, 'dying', ranOn);
      await runner.start();
      const { job } = await runner.submit({ kind: 'inject', subjectKey: 'server-a', input: {} });
      while (!ranOn.includes('dying')) await sleep(20);
      await runner.stop();
      expect((await other.get(job.id))?.state, 'cut short, still running').to.equal('running');
      expect((await other.findRunning()).map((taken) => taken.id), 'taken at once, not after the 60 s lease').to.deep.equal([job.id]);
    });

    it("resumes a dead replica's job on the live one within the lease time, and runs work the other replica accepted", async function () {
      const ranOn: string[] = [];
      const dyingDb = await openTestDatabase(url);
      const dying = new PostgresJobStore({ database: dyingDb, owner: 'dying', leaseMs: LEASE_MS });
      const live = await replica('live');
      const dyingRunner = runnerOn(dying, 'dying', ranOn);
      await dyingRunner.start();
      const { job } = await dyingRunner.submit({ kind: 'inject', subjectKey: 'server-a', input: {} });
      while (!ranOn.includes('dying')) await sleep(20);
      await runnerOn(live, 'live', ranOn).start();
      // Death: the replica's connections go away and it never renews again.
      const diedAt = Date.now();
      await dyingDb.close();
      let done = await live.get(job.id);
      while (done?.state !== 'succeeded' && Date.now() - diedAt < 20_000) {
        await sleep(50);
        done = await live.get(job.id);
      }
      const takeoverMs = Date.now() - diedAt;
      expect(done?.state).to.equal('succeeded');
      expect(ranOn).to.deep.equal(['dying', 'live']);
      expect(takeoverMs, 'taken over and finished within the lease time (plus the step itself)').to.be.below(LEASE_MS + 1_000);
      expect(done?.steps.map((step) => step.state)).to.deep.equal(['succeeded', 'succeeded']);
      const other = await new PostgresJobStore({ database: await database(), owner: 'api-only', leaseMs: LEASE_MS }).create(makeJob('server-b'));
      let ran = await live.get(other.job.id);
      for (let n = 0; n < 100 && ran?.state !== 'succeeded'; n++) {
        await sleep(50);
        ran = await live.get(other.job.id);
      }
      expect(ran?.state, 'a job another replica stored is found by the poll').to.equal('succeeded');
    });
  });
});
