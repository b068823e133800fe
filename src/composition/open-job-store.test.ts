import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { PostgresCluster } from '../../test/support/postgres/postgres-cluster.js';
import { acquirePostgresCluster, freshDatabaseUrl, releasePostgresCluster } from '../../test/support/postgres/postgres-test-database.js';
import { createTestLogger } from '../../test/support/run-log.js';
import { configSchema, loadConfig, type Config } from '../config.js';
import { CertificateRenewal } from '../injection/certificate-renewal.js';
import type { ReceivedInjectionEvent } from '../orchestrator/orchestrator-inbox.js';
import { newJob, type Job } from '../jobs/job.js';
import { ManualClock } from '../jobs/manual-clock.js';
import { openJobStore, type OpenedStores } from './open-job-store.js';
import { PostgresJobStore } from '../jobs/postgres-job-store.js';
import { SqliteJobStore } from '../jobs/sqlite-job-store.js';

const HOUR = 3_600_000;

function event(id: string, subject: string, time: number): ReceivedInjectionEvent {
  return { source: '/vm-sidecar-injector', id, outcome: 'succeeded', subject, jobId: `job-${id}`, vmName: subject, address: '198.51.100.20', time, receivedAt: time };
}

describe('job store selection (store.kind)', function () {
  this.timeout(60_000);
  let dir: string;
  const opened: OpenedStores[] = [];

  beforeEach(function () {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-open-store-'));
  });

  afterEach(async function () {
    for (const stores of opened.splice(0)) await stores.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function open(config: Config): Promise<OpenedStores> {
    const stores = await openJobStore(config);
    opened.push(stores);
    return stores;
  }

  it('keeps SQLite files under dataDir by default: one replica, no leases, exclusive work simply runs', async function () {
    const stores = await open(configSchema.parse({ dataDir: dir }));
    expect(stores.jobs).to.be.instanceOf(SqliteJobStore);
    expect(stores.jobs.leases).to.equal(undefined);
    await stores.ping();
    expect(await stores.exclusive('certificateRenewal', () => Promise.resolve(7))).to.equal(7);
    expect(await stores.orchestratorInbox().recordInjectionEvent(event('e1', 'vm-a', 1))).to.equal(true);
  });

  it('refuses a database URL that carries a password, and names passwordFile instead', function () {
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, 'store:\n  kind: postgres\n  url: postgresql://vmsi:hunter22@db.example/vmsi\n');
    try {
      loadConfig({ file, env: {} });
      expect.fail('expected INVALID_CONFIG');
    } catch (error) {
      expect(JSON.stringify(error)).to.include('passwordFile');
      expect(JSON.stringify(error)).not.to.include('hunter22');
    }
    writeFileSync(file, 'store:\n  kind: postgres\n  url: mysql://db.example/vmsi\n');
    expect(() => loadConfig({ file, env: {} })).to.throw(/invalid/);
  });

  describe('on PostgreSQL', function () {
    let cluster: PostgresCluster;
    let config: Config;

    before(async function () {
      this.timeout(120_000);
      cluster = await acquirePostgresCluster();
    });

    beforeEach(async function () {
      config = configSchema.parse({ dataDir: dir, store: { kind: 'postgres', url: await freshDatabaseUrl(cluster, 'selection'), lease: '8s', replicaName: 'test-replica' } });
    });

    after(async function () {
      await releasePostgresCluster();
    });

    it('opens a leased job store whose renewals come four times per lease', async function () {
      const stores = await open(config);
      expect(stores.jobs).to.be.instanceOf(PostgresJobStore);
      expect(stores.jobs.leases?.renewIntervalMs).to.equal(2_000);
      await stores.ping();
    });

    it('shares the orchestrator inbox across replicas and drops a redelivery that reaches another replica', async function () {
      const [a, b] = [await open(config), await open(config)];
      expect(await a.orchestratorInbox().recordInjectionEvent(event('e1', 'vm-a', 10))).to.equal(true);
      expect(await b.orchestratorInbox().recordInjectionEvent(event('e1', 'vm-a', 10))).to.equal(false);
      const latest = await b.orchestratorInbox().latestInjectionEvents(['vm-a']);
      expect(latest.get('vm-a')?.jobId).to.equal('job-e1');
    });

    it('runs exclusive work on one replica at a time, and frees the lock when the work ends', async function () {
      const [a, b] = [await open(config), await open(config)];
      let release = (): void => undefined;
      const held = a.exclusive('certificateRenewal', () => new Promise<string>((resolve) => (release = () => resolve('a ran'))));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await b.exclusive('certificateRenewal', () => Promise.resolve('b ran')), 'skipped while a holds it').to.equal(undefined);
      release();
      expect(await held).to.equal('a ran');
      expect(await b.exclusive('certificateRenewal', () => Promise.resolve('b ran'))).to.equal('b ran');
    });

    it('re-issues an expiring certificate once when two replicas sweep at the same time', async function () {
      const [a, b] = [await open(config), await open(config)];
      const clock = new ManualClock();
      const issued = newJob({ kind: 'inject', subjectKey: 'vm-a', input: {}, stepNames: ['deliver'], now: clock.now() });
      const expiring: Job = {
        ...issued,
        state: 'succeeded',
        steps: issued.steps.map((step) => ({ ...step, state: 'succeeded', output: { certificate: { notAfter: new Date(clock.now() + HOUR).toISOString() } } })),
      };
      await a.jobs.create(expiring);
      const submitted: string[] = [];
      const renewalOn = (stores: OpenedStores, name: string): CertificateRenewal =>
        new CertificateRenewal({
          store: stores.jobs,
          reonboard: async (jobId) => {
            submitted.push(name);
            await new Promise((resolve) => setTimeout(resolve, 200));
            await stores.jobs.create(newJob({ kind: 'inject', subjectKey: 'vm-a', input: { reonboardOf: jobId }, stepNames: ['deliver'], now: clock.now() + 1 }));
          },
          clock,
          renewBeforeMs: 8 * HOUR,
          intervalMs: 60_000,
          logger: createTestLogger(),
          exclusive: (sweep) => stores.exclusive('certificateRenewal', sweep),
        });
      const [first, second] = [renewalOn(a, 'a'), renewalOn(b, 'b')];
      const counts = await Promise.all([first.sweepOnce(), second.sweepOnce()]);
      expect(counts.reduce((sum, count) => sum + count, 0)).to.equal(1);
      expect(await second.sweepOnce(), 'the next sweep sees the re-issue under way').to.equal(0);
      expect(submitted).to.have.length(1);
    });
  });
});
