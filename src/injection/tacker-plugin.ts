import { z } from 'zod';
import { AppError } from '../errors.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { JobStore } from '../jobs/job-store.js';
import type { JsonObject } from '../jobs/job.js';
import { intentsFromNotification, type LcmIntent } from '../tacker/lcm-intents.js';
import { MESH_PARAMETERS_KEY } from '../tacker/mesh-parameters.js';
import { parseLcmNotification, type NormalizedLcmNotification } from '../tacker/sol003-notification.js';
import { formatZodProblems } from '../validation.js';
import { handleIntent, type IntentOutcome, type TackerApiVersion, type TackerPluginDependencies } from './lcm-event-steps.js';

export type NotificationOutcome = { stored: true; jobId: string; duplicate: boolean } | { stored: false; reason: string };

/** What the mgmt-driver script posts (plugin-manifest/README.md); Tacker runs it synchronously. */
export const mgmtRequestSchema = z
  .object({
    hook: z.string().min(1).max(100),
    vnfInstanceId: z.string().min(1).max(255),
    vnfdId: z.string().min(1).max(255).optional(),
    operation: z.string().min(1).max(100),
    vnfLcmOpOccId: z.string().min(1).max(255).optional(),
    servers: z.array(z.object({ serverId: z.uuid(), vduId: z.string().min(1).max(255), action: z.enum(['inject', 'remove']) }).strict()).max(1000),
    meshSidecar: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export type MgmtRequest = z.infer<typeof mgmtRequestSchema>;

const ACTED_OPERATION_STATE = 'COMPLETED';

/**
 * Tacker's side of the product. Notifications are stored as one durable lcm-event job each (keyed
 * by operation occurrence and state, so duplicate deliveries and duplicate subscriptions collapse)
 * and answered before any API call; the job reads Tacker and Nova and submits the VM jobs.
 */
export class TackerPlugin {
  constructor(
    private readonly options: { runner: JobRunner; store: JobStore; deps: TackerPluginDependencies },
  ) {}

  async acceptNotification(apiVersion: TackerApiVersion, body: unknown): Promise<NotificationOutcome> {
    const parsed = parseLcmNotification(body, { apiVersion });
    if (parsed.kind === 'ignored') return { stored: false, reason: parsed.reason };
    const decision = intentsFromNotification(parsed.notification);
    if (decision.decision === 'ignore') return { stored: false, reason: decision.reason };
    return this.storeEvent(apiVersion, parsed.notification);
  }

  private async storeEvent(apiVersion: TackerApiVersion, notification: NormalizedLcmNotification): Promise<NotificationOutcome> {
    const { job, created } = await this.options.runner.submit({
      kind: 'lcm-event',
      subjectKey: `vnf:${notification.vnfInstanceId}`,
      input: { apiVersion, notification: JSON.parse(JSON.stringify(notification)) as JsonObject },
      idempotencyKey: `${notification.vnfLcmOpOccId}:${notification.operationState}`,
    });
    return { stored: true, jobId: job.id, duplicate: !created };
  }

  /** Mode B: the script waits on these jobs and fails the operation (FAILED_TEMP) if one fails. */
  async acceptMgmtRequest(body: unknown): Promise<IntentOutcome[]> {
    const parsed = mgmtRequestSchema.safeParse(body);
    if (!parsed.success) throw new AppError('INVALID_REQUEST', 'The mgmt-driver request is invalid.', { problems: formatZodProblems(parsed.error) });
    const request = parsed.data;
    const operationKey = request.vnfLcmOpOccId ?? `${request.vnfInstanceId}:${request.hook}`;
    const sources = {
      additionalParams: request.meshSidecar === undefined ? undefined : { [MESH_PARAMETERS_KEY]: request.meshSidecar },
      vnfdId: request.vnfdId,
      vnfInstanceId: request.vnfInstanceId,
    };
    const outcomes: IntentOutcome[] = [];
    for (const server of request.servers) {
      const intent: LcmIntent = { action: server.action, serverId: server.serverId, vduId: server.vduId, vnfcId: server.serverId, dedupKey: `mgmt:${operationKey}:${server.serverId}:${server.action}` };
      outcomes.push(await handleIntent(intent, sources, this.options.deps));
    }
    return outcomes;
  }

  /**
   * After downtime: notifications are not redelivered, so completed operations since `sinceIso` are
   * read from Tacker and stored like notifications. Already handled ones collapse on their key.
   */
  async reconcile(apiVersion: TackerApiVersion, sinceIso: string): Promise<{ stored: number; duplicates: number; skipped: number }> {
    const client = await this.options.deps.tacker(apiVersion);
    const { opOccs } = await client.listLcmOpOccs({ sinceIso });
    const counts = { stored: 0, duplicates: 0, skipped: 0 };
    for (const opOcc of opOccs) {
      if (opOcc.operationState !== ACTED_OPERATION_STATE) {
        counts.skipped += 1;
        continue;
      }
      const notification: NormalizedLcmNotification = {
        apiVersion,
        id: `reconcile-${opOcc.id}`,
        subscriptionId: 'reconcile',
        vnfInstanceId: opOcc.vnfInstanceId,
        vnfLcmOpOccId: opOcc.id,
        operation: opOcc.operation,
        operationState: opOcc.operationState,
        notificationStatus: 'RESULT',
        timeStamp: opOcc.stateEnteredTime,
        isAutomaticInvocation: false,
      };
      if (intentsFromNotification(notification).decision === 'ignore') {
        counts.skipped += 1;
        continue;
      }
      const outcome = await this.storeEvent(apiVersion, notification);
      if (outcome.stored && outcome.duplicate) counts.duplicates += 1;
      else counts.stored += 1;
    }
    return counts;
  }
}
