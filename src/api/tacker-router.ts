import express, { Router } from 'express';
import { readRawJsonBody } from './spec-body.js';
import { AppError } from '../errors.js';
import type { IntentOutcome, TackerApiVersion } from '../injection/lcm-event-steps.js';
import type { TackerPlugin } from '../injection/tacker-plugin.js';
import type { Logger } from '../log.js';
import { requireScope } from './authentication.js';
import { authenticateCallback, type CallbackAuthenticator } from './callback-auth.js';
import { z } from 'zod';
import { bodyLimitFor } from '../config.js';
import { createRateLimits, type RouteHttpSettings } from './rate-limits.js';
import { formatZodProblems } from '../validation.js';

export const reconcileRequestSchema = z.object({ apiVersion: z.enum(['v1', 'v2']), since: z.iso.datetime({ offset: true }) }).strict();

export const NOTIFICATION_PATH = '/v1/tacker/notifications';

/**
 * The subscription's callback URI. Tacker tests it with GET and needs 204; it POSTs notifications
 * and needs 204 (v2 never retries and has no timeout, v1 retries three times): the event is stored
 * durably before answering and nothing slow runs before the 204.
 */
export function tackerCallbackRouter(options: { plugin: TackerPlugin; apiVersions: readonly TackerApiVersion[]; auth: (apiVersion: TackerApiVersion) => CallbackAuthenticator; http: RouteHttpSettings; logger: Logger }): Router {
  const router = Router();
  const limitAuthenticated = createRateLimits(options.http.rateLimit).authenticated;
  const bodyLimit = bodyLimitFor(options.http, NOTIFICATION_PATH);
  for (const apiVersion of options.apiVersions) {
    const path = `${NOTIFICATION_PATH}/${apiVersion}`;
    const authenticate = authenticateCallback(options.auth(apiVersion), options.logger);
    router.get(path, authenticate, limitAuthenticated, (_req, res) => {
      res.status(204).end();
    });
    router.post(path, authenticate, limitAuthenticated, express.raw({ type: () => true, limit: bodyLimit }), async (req, res) => {
      const outcome = await options.plugin.acceptNotification(apiVersion, readRawJsonBody(req, 'notification'));
      options.logger.info('Tacker notification accepted', { apiVersion, ...outcome });
      res.status(204).end();
    });
  }
  return router;
}

export const mgmtResponseSchema = z
  .object({
    jobs: z.array(z.object({ id: z.uuid(), serverId: z.string(), action: z.enum(['inject', 'remove']), created: z.boolean() })),
    skipped: z.array(z.object({ serverId: z.string(), action: z.enum(['inject', 'remove']), reason: z.string() })),
  })
  .meta({ id: 'MgmtResponse' });

export const reconcileResponseSchema = z
  .object({ stored: z.number().int().min(0), duplicates: z.number().int().min(0), skipped: z.number().int().min(0) })
  .meta({ id: 'ReconcileResponse' });

function jobSummary(outcomes: IntentOutcome[]): z.infer<typeof mgmtResponseSchema> {
  const jobs = outcomes.flatMap((outcome) => ('jobId' in outcome ? [{ id: outcome.jobId, serverId: outcome.serverId, action: outcome.action, created: outcome.created }] : []));
  const skipped = outcomes.flatMap((outcome) => ('skipped' in outcome ? [{ serverId: outcome.serverId, action: outcome.action, reason: outcome.skipped }] : []));
  return { jobs, skipped };
}

/** Mode B: the mgmt-driver script posts here and then waits on the jobs (plugin-manifest/README.md). */
export function tackerMgmtRouter(plugin: TackerPlugin): Router {
  const router = Router();
  router.post('/v1/tacker/mgmt', requireScope('write'), async (req, res) => {
    res.status(202).json(jobSummary(await plugin.acceptMgmtRequest(req.body)));
  });
  router.post('/v1/tacker/reconcile', requireScope('write'), async (req, res) => {
    const parsed = reconcileRequestSchema.safeParse(req.body);
    if (!parsed.success) throw new AppError('INVALID_REQUEST', 'The reconcile request is invalid.', { problems: formatZodProblems(parsed.error) });
    const counts: z.infer<typeof reconcileResponseSchema> = await plugin.reconcile(parsed.data.apiVersion, parsed.data.since);
    res.status(200).json(counts);
  });
  return router;
}
