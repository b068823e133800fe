import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { AppError } from '../errors.js';
import { newJob } from './job.js';
import { SqliteJobStore } from './sqlite-job-store.js';

const NOW = Date.UTC(2026, 4, 1, 10);

describe('SqliteJobStore on disk', function () {
  let dir: string;
  let file: string;

  beforeEach(function () {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-sqlite-jobs-'));
    file = path.join(dir, 'jobs.sqlite');
  });

  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  function job(): ReturnType<typeof newJob> {
    return newJob({ kind: 'inject', subjectKey: 'server-a', input: { vdu: 'VDU1' }, stepNames: ['resolve'], now: NOW });
  }

  it('runs in WAL mode with a write-ahead log file next to the database', async function () {
    const store = SqliteJobStore.open({ path: file });
    await store.create(job());
    expect(store.journalMode()).to.equal('wal');
    expect(existsSync(`${file}-wal`)).to.equal(true);
    await store.close();
  });

  it('sets a busy timeout and creates the schema at its latest version on open', async function () {
    const store = SqliteJobStore.open({ path: file, busyTimeoutMs: 1_234 });
    expect(store.schemaVersion()).to.equal(2);
    expect(store.busyTimeoutMs()).to.equal(1_234);
    await store.close();
    const db = new DatabaseSync(file);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>;
    db.close();
    expect(tables.map((table) => table.name)).to.include.members(['jobs', 'job_log', 'schema_version']);
    const again = SqliteJobStore.open({ path: file, busyTimeoutMs: 1_234 });
    expect(again.schemaVersion(), 'reopening does not migrate twice').to.equal(2);
    await again.close();
  });

  it('keeps jobs and logs across close and reopen', async function () {
    const first = SqliteJobStore.open({ path: file });
    const { job: created } = await first.create(job());
    await first.appendLog(created.id, [{ at: NOW, line: 'step resolve: attempt 1 started' }]);
    await first.close();
    const second = SqliteJobStore.open({ path: file });
    expect(await second.get(created.id)).to.deep.equal(created);
    expect(await second.readLog(created.id)).to.deep.equal([{ at: NOW, line: 'step resolve: attempt 1 started' }]);
    await second.close();
  });

  it('lets a second connection read while the first holds the file (API and CLI beside the runner)', async function () {
    const writer = SqliteJobStore.open({ path: file });
    const reader = SqliteJobStore.open({ path: file });
    const { job: created } = await writer.create(job());
    expect((await reader.get(created.id))?.id).to.equal(created.id);
    await writer.close();
    await reader.close();
  });

  it('commits concurrent creates together, each on disk when its promise resolves, a failing one rolled back alone', async function () {
    const store = SqliteJobStore.open({ path: file });
    const reader = new DatabaseSync(file, { readOnly: true });
    const countRows = (): number => (reader.prepare('SELECT COUNT(*) AS n FROM jobs').get() as { n: number }).n;
    const first = job();
    const batch = [store.create(first), store.create(job()), store.create({ ...first, stateReason: 'reused id' }), store.create(job())];
    expect(countRows(), 'nothing is written before the group commits').to.equal(0);
    const outcomes = await Promise.allSettled(batch.map((pending) => pending.then((result) => ({ result, rows: countRows() }))));
    expect(outcomes.map((outcome) => outcome.status)).to.deep.equal(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    for (const outcome of outcomes) if (outcome.status === 'fulfilled') expect(outcome.value.rows, 'a resolved create is readable by another connection').to.equal(3);
    expect((outcomes[2] as PromiseRejectedResult).reason).to.be.instanceOf(AppError).with.property('code', 'CONFLICT');
    reader.close();
    await store.close();
  });

  it('stores one job per key from a burst of concurrent duplicate creates in one commit, a failing create losing none of the others', async function () {
    const store = SqliteJobStore.open({ path: file });
    const keyed = (key: string): ReturnType<typeof newJob> => ({ ...job(), idempotencyKey: key });
    const reused = job();
    const requests = [...Array.from({ length: 30 }, (_, index) => keyed(`op-${index % 10}:COMPLETED`)), reused, { ...reused, stateReason: 'reused id' }];
    const outcomes = await Promise.allSettled(requests.map((request) => store.create(request)));
    const results = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).to.have.length(1);
    expect(results.filter((result) => result.created)).to.have.length(11);
    const idsByKey = new Map<string, Set<string>>();
    for (const { job: stored } of results) if (stored.idempotencyKey !== null) idsByKey.set(stored.idempotencyKey, (idsByKey.get(stored.idempotencyKey) ?? new Set()).add(stored.id));
    expect([...idsByKey.values()].map((ids) => ids.size), 'every delivery of a key answered with the one stored job').to.deep.equal(Array.from({ length: 10 }, () => 1));
    await store.close();
    const reader = new DatabaseSync(file, { readOnly: true });
    const rows = reader.prepare('SELECT idempotency_key AS key, COUNT(*) AS n FROM jobs GROUP BY idempotency_key').all() as Array<{ key: string | null; n: number }>;
    reader.close();
    expect(rows.map((row) => [row.key, row.n])).to.have.deep.members([[null, 1], ...Array.from({ length: 10 }, (_, index) => [`op-${index}:COMPLETED`, 1])]);
  });

  it('commits log appends and saves queued in the same turn before close returns', async function () {
    const store = SqliteJobStore.open({ path: file });
    const { job: created } = await store.create(job());
    const pending = [store.appendLog(created.id, [{ at: NOW, line: 'queued' }]), store.save({ ...created, stateReason: 'saved' })];
    await store.close();
    await Promise.all(pending);
    const again = SqliteJobStore.open({ path: file });
    expect(await again.readLog(created.id)).to.deep.equal([{ at: NOW, line: 'queued' }]);
    expect((await again.get(created.id))?.stateReason).to.equal('saved');
    await again.close();
  });

  it('refuses a database written by a newer release', async function () {
    const store = SqliteJobStore.open({ path: file });
    await store.close();
    const db = new DatabaseSync(file);
    db.exec('INSERT INTO schema_version (version) VALUES (99)');
    db.close();
    expect(() => SqliteJobStore.open({ path: file }))
      .to.throw(AppError)
      .with.property('message')
      .that.matches(/schema version 99/);
  });

  it('reports a store failure as an AppError, e.g. after close', async function () {
    const store = SqliteJobStore.open({ path: file });
    await store.close();
    try {
      await store.get('anything');
      expect.fail('expected an error');
    } catch (error) {
      expect(error).to.be.instanceOf(AppError).with.property('code', 'INTERNAL');
    }
  });
});
