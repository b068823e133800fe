import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { acquirePostgresCluster, freshDatabaseUrl, openTestDatabase, releasePostgresCluster } from '../../test/support/postgres/postgres-test-database.js';
import type { PostgresDatabase } from '../jobs/postgres-database.js';
import { OPERATION_EVENT_RETENTION_MS, type OrchestratorInbox, type ReceivedInjectionEvent, type ReceivedOperationEvent } from './orchestrator-inbox.js';
import { SqliteOrchestratorInbox } from './sqlite-orchestrator-inbox.js';
import { PostgresOrchestratorInbox } from './postgres-orchestrator-inbox.js';

interface InboxFactory {
  name: string;
  open(): Promise<OrchestratorInbox>;
  cleanUp(): Promise<void>;
}

const dirs: string[] = [];
let database: PostgresDatabase | undefined;

const FACTORIES: InboxFactory[] = [
  {
    name: 'SqliteOrchestratorInbox',
    open: () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-inbox-'));
      dirs.push(dir);
      return Promise.resolve(SqliteOrchestratorInbox.open(path.join(dir, 'orchestrator.sqlite')));
    },
    cleanUp: () => {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  },
  {
    name: 'PostgresOrchestratorInbox',
    open: async () => {
      database = await openTestDatabase(await freshDatabaseUrl(await acquirePostgresCluster(), 'inbox'));
      return new PostgresOrchestratorInbox(database);
    },
    cleanUp: async () => {
      await database?.close();
      database = undefined;
      await releasePostgresCluster();
    },
  },
];

function event(id: string, subject: string, time: number, outcome: ReceivedInjectionEvent['outcome'] = 'succeeded'): ReceivedInjectionEvent {
  return { source: '/vm-sidecar-injector', id, outcome, subject, jobId: `job-${id}`, vmName: subject, address: '198.51.100.20', time, receivedAt: time + 5 };
}

function result(vnfLcmOpOccId: string, operationState: ReceivedOperationEvent['operationState'], time: number, receivedAt = time + 5): ReceivedOperationEvent {
  return { vnfLcmOpOccId, vnfInstanceId: 'vnf-1', operation: 'INSTANTIATE', operationState, time, receivedAt };
}

for (const factory of FACTORIES) {
  describe(`OrchestratorInbox contract: ${factory.name}`, function () {
    this.timeout(60_000);
    let inbox: OrchestratorInbox;

    beforeEach(async function () {
      inbox = await factory.open();
    });

    afterEach(async function () {
      await inbox.close();
      await factory.cleanUp();
    });

    it('records an event once: a redelivery with the same source and id is ignored', async function () {
      expect(await inbox.recordInjectionEvent(event('e1', 'vm-a', 100))).to.equal(true);
      expect(await inbox.recordInjectionEvent({ ...event('e1', 'vm-a', 100), outcome: 'failed' })).to.equal(false);
      expect(await inbox.recordInjectionEvent({ ...event('e1', 'vm-a', 100), source: '/other-injector' })).to.equal(true);
    });

    it("gives the newest event per subject by the injector's time, whatever the arrival order", async function () {
      await inbox.recordInjectionEvent(event('late', 'vm-a', 300, 'failed'));
      await inbox.recordInjectionEvent(event('early', 'vm-a', 100));
      await inbox.recordInjectionEvent(event('b1', 'vm-b', 50, 'removed'));
      const latest = await inbox.latestInjectionEvents(['vm-a', 'vm-b', 'vm-none']);
      expect([...latest.keys()].sort()).to.deep.equal(['vm-a', 'vm-b']);
      expect(latest.get('vm-a')).to.deep.equal(event('late', 'vm-a', 300, 'failed'));
      expect(latest.get('vm-b')?.outcome).to.equal('removed');
    });

    it("records an operation's result once per state and gives the newest by Tacker's time", async function () {
      expect(await inbox.latestOperationEvent('occ-1')).to.equal(undefined);
      expect(await inbox.recordOperationEvent(result('occ-1', 'FAILED_TEMP', 1_000))).to.equal(true);
      expect(await inbox.recordOperationEvent(result('occ-1', 'FAILED_TEMP', 1_000))).to.equal(false);
      // Retried by an operator after FAILED_TEMP, the same occurrence completes later.
      expect(await inbox.recordOperationEvent(result('occ-1', 'COMPLETED', 2_000))).to.equal(true);
      await inbox.recordOperationEvent(result('occ-2', 'FAILED', 1_500));
      expect(await inbox.latestOperationEvent('occ-1')).to.deep.equal(result('occ-1', 'COMPLETED', 2_000));
      expect((await inbox.latestOperationEvent('occ-2'))?.operationState).to.equal('FAILED');
    });

    it('drops operation results past their retention when it records a new one', async function () {
      await inbox.recordOperationEvent(result('old', 'COMPLETED', 1_000, 1_000));
      await inbox.recordOperationEvent(result('new', 'COMPLETED', 1_000 + OPERATION_EVENT_RETENTION_MS + 1, 1_000 + OPERATION_EVENT_RETENTION_MS + 1));
      expect(await inbox.latestOperationEvent('old')).to.equal(undefined);
      expect(await inbox.latestOperationEvent('new')).to.not.equal(undefined);
    });
  });
}
