import type { PostgresDatabase } from '../jobs/postgres-database.js';
import type { OrchestratorInbox, ReceivedInjectionEvent } from './orchestrator-inbox.js';

/**
 * The orchestrator's inbox in the job store's PostgreSQL database (table injection_events, created
 * by its migrations): every replica sees every event, whichever replica the injector's webhook
 * reached, and the (source, id) primary key drops a redelivery even when two replicas get it at once.
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

  /** The database is shared with the job store and closed by whoever opened it. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
