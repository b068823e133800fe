import type { PostgresDatabase } from '../jobs/postgres-database.js';
import { OPERATION_EVENT_RETENTION_MS, type OrchestratorInbox, type ReceivedInjectionEvent, type ReceivedOperationEvent } from './orchestrator-inbox.js';

/**
 * The orchestrator's inbox in the job store's PostgreSQL database (table injection_events, created
 * by its migrations, and operation_events): every replica sees every event, whichever replica the
 * injector's webhook or Tacker's notification reached, and the primary keys drop a redelivery even
 * when two replicas get it at once.
 */
export class PostgresOrchestratorInbox implements OrchestratorInbox {
  constructor(private readonly database: PostgresDatabase) {}

  async recordInjectionEvent(event: ReceivedInjectionEvent): Promise<boolean> {
    const result = await this.database.query(
      'recordInjectionEvent',
      'INSERT INTO injection_events (source, id, subject, time, body) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source, id) DO NOTHING',
      [event.source, event.id, event.subject, event.time, JSON.stringify(event)],
    );
    return result.rowCount === 1;
  }

  async latestInjectionEvents(subjects: readonly string[]): Promise<Map<string, ReceivedInjectionEvent>> {
    const result = await this.database.query<{ subject: string; body: ReceivedInjectionEvent }>(
      'latestInjectionEvents',
      'SELECT DISTINCT ON (subject) subject, body FROM injection_events WHERE subject = ANY($1::text[]) ORDER BY subject, time DESC, seq DESC',
      [[...subjects]],
    );
    return new Map(result.rows.map((row) => [row.subject, row.body]));
  }

  async recordOperationEvent(event: ReceivedOperationEvent): Promise<boolean> {
    await this.database.query('pruneOperationEvents', 'DELETE FROM operation_events WHERE received_at < $1', [event.receivedAt - OPERATION_EVENT_RETENTION_MS]);
    const result = await this.database.query(
      'recordOperationEvent',
      'INSERT INTO operation_events (vnf_lcm_op_occ_id, operation_state, time, received_at, body) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (vnf_lcm_op_occ_id, operation_state) DO NOTHING',
      [event.vnfLcmOpOccId, event.operationState, event.time, event.receivedAt, JSON.stringify(event)],
    );
    return result.rowCount === 1;
  }

  async latestOperationEvent(vnfLcmOpOccId: string): Promise<ReceivedOperationEvent | undefined> {
    const result = await this.database.query<{ body: ReceivedOperationEvent }>(
      'latestOperationEvent',
      'SELECT body FROM operation_events WHERE vnf_lcm_op_occ_id = $1 ORDER BY time DESC, seq DESC LIMIT 1',
      [vnfLcmOpOccId],
    );
    return result.rows[0]?.body;
  }

  /** The database is shared with the job store and closed by whoever opened it. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
