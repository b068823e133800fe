import express, { Router, type RequestHandler } from 'express';
import { bodyLimitFor } from '../config.js';
import { readRawJsonBody } from './spec-body.js';
import { createRateLimits, markAuthenticated, type RouteHttpSettings } from './rate-limits.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { SIGNATURE_HEADER, verifySignature } from '../notify/webhook-notifier.js';
import { parseInjectionEvent, type OrchestratorInbox } from '../orchestrator/orchestrator-inbox.js';

export const ORCHESTRATOR_EVENTS_PATH = '/v1/orchestrator/events';

export interface OrchestratorEventsOptions {
  events: OrchestratorInbox;
  /** The webhook secret the injector signs with (notify.webhook.secretFile). */
  secret: Buffer;
  http: RouteHttpSettings;
  now: () => number;
  logger: Logger;
}

/**
 * Where the injector's CloudEvents arrive. The HMAC over the exact body is this route's
 * authentication (the injector holds no API token), checked before the body is parsed; an event
 * is stored before the 204, and a redelivered one (same source and id) is acknowledged again.
 */
function checkSignature(secret: Buffer): RequestHandler {
  return (req, res, next) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!verifySignature(raw, req.get(SIGNATURE_HEADER), secret)) throw new AppError('UNAUTHENTICATED', 'The event signature is missing or wrong.');
    markAuthenticated(res, 'injector-events');
    next();
  };
}

export function orchestratorEventsRouter(options: OrchestratorEventsOptions): Router {
  const router = Router();
  const readBody = express.raw({ type: () => true, limit: bodyLimitFor(options.http, ORCHESTRATOR_EVENTS_PATH) });
  router.post(ORCHESTRATOR_EVENTS_PATH, readBody, checkSignature(options.secret), createRateLimits(options.http.rateLimit).authenticated, async (req, res) => {
    const body = readRawJsonBody(req, 'event');
    const event = parseInjectionEvent(body, options.now());
    const isNew = await options.events.recordInjectionEvent(event);
    options.logger.info('Injection event received', { eventId: event.id, outcome: event.outcome, subject: event.subject, jobId: event.jobId, duplicate: !isNew });
    res.status(204).end();
  });
  return router;
}
