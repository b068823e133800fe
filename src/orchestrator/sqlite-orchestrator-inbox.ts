import { DatabaseSync } from 'node:sqlite';
import { OPERATION_EVENT_RETENTION_MS, type OrchestratorInbox, type ReceivedInjectionEvent, type ReceivedOperationEvent } from './orchestrator-inbox.js';

interface EventRow {
  body: string;
}

/** Events in their own SQLite file (WAL): the inbox outlives restarts, so a deployment resumed after a crash still knows which VMs are done. */
export class SqliteOrchestratorInbox implements OrchestratorInbox {
  private constructor(private readonly db: DatabaseSync) {}

  static open(path: string): SqliteOrchestratorInbox {
    const db = new DatabaseSync(path);
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;');
    db.exec(`CREATE TABLE IF NOT EXISTS injection_events (
      source TEXT NOT NULL,
      id TEXT NOT NULL,
      subject TEXT NOT NULL,
      time INTEGER NOT NULL,
      body TEXT NOT NULL,
      PRIMARY KEY (source, id)
    );
    CREATE INDEX IF NOT EXISTS injection_events_subject ON injection_events (subject, time);
    CREATE TABLE IF NOT EXISTS operation_events (
      vnf_lcm_op_occ_id TEXT NOT NULL,
      operation_state TEXT NOT NULL,
      time INTEGER NOT NULL,
      received_at INTEGER NOT NULL,
      body TEXT NOT NULL,
      PRIMARY KEY (vnf_lcm_op_occ_id, operation_state)
    );
    CREATE INDEX IF NOT EXISTS operation_events_received ON operation_events (received_at);`);
    return new SqliteOrchestratorInbox(db);
  }

  recordInjectionEvent(event: ReceivedInjectionEvent): Promise<boolean> {
    const result = this.db
      .prepare('INSERT OR IGNORE INTO injection_events (source, id, subject, time, body) VALUES (?, ?, ?, ?, ?)')
      .run(event.source, event.id, event.subject, event.time, JSON.stringify(event));
    return Promise.resolve(Number(result.changes) > 0);
  }

  latestInjectionEvents(subjects: readonly string[]): Promise<Map<string, ReceivedInjectionEvent>> {
    const latest = new Map<string, ReceivedInjectionEvent>();
    const statement = this.db.prepare('SELECT body FROM injection_events WHERE subject = ? ORDER BY time DESC, rowid DESC LIMIT 1');
    for (const subject of subjects) {
      const row = statement.get(subject) as EventRow | undefined;
      if (row !== undefined) latest.set(subject, JSON.parse(row.body) as ReceivedInjectionEvent);
    }
    return Promise.resolve(latest);
  }

  recordOperationEvent(event: ReceivedOperationEvent): Promise<boolean> {
    this.db.prepare('DELETE FROM operation_events WHERE received_at < ?').run(event.receivedAt - OPERATION_EVENT_RETENTION_MS);
    const result = this.db
      .prepare('INSERT OR IGNORE INTO operation_events (vnf_lcm_op_occ_id, operation_state, time, received_at, body) VALUES (?, ?, ?, ?, ?)')
      .run(event.vnfLcmOpOccId, event.operationState, event.time, event.receivedAt, JSON.stringify(event));
    return Promise.resolve(Number(result.changes) > 0);
  }

  latestOperationEvent(vnfLcmOpOccId: string): Promise<ReceivedOperationEvent | undefined> {
    const row = this.db.prepare('SELECT body FROM operation_events WHERE vnf_lcm_op_occ_id = ? ORDER BY time DESC, rowid DESC LIMIT 1').get(vnfLcmOpOccId) as EventRow | undefined;
    return Promise.resolve(row === undefined ? undefined : (JSON.parse(row.body) as ReceivedOperationEvent));
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}
