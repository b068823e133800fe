import express, { Router } from 'express';
import { bodyLimitFor } from '../config.js';
import type { Logger } from '../log.js';
import { OPERATION_RESULT_STATES, type OperationResultState, type OrchestratorInbox } from '../orchestrator/orchestrator-inbox.js';
import type { OperationArrivals } from '../orchestrator/operation-arrivals.js';
import { parseLcmNotification } from '../tacker/sol003-notification.js';
import { authenticateCallback, type CallbackAuthenticator } from './callback-auth.js';
import { readRawJsonBody } from './spec-body.js';
import { createRateLimits, type RouteHttpSettings } from './rate-limits.js';

export const ORCHESTRATOR_TACKER_NOTIFICATIONS_PATH = '/v1/orchestrator/tacker/notifications';

export interface OrchestratorTackerRouterOptions {
  inbox: OrchestratorInbox;
  arrivals: OperationArrivals;
  /** Tacker v2's callback authentication, the same as on the plugin's v2 route. */
  auth: CallbackAuthenticator;
  http: RouteHttpSettings;
  now: () => number;
  logger: Logger;
}

function isResultState(state: string): state is OperationResultState {
  return (OPERATION_RESULT_STATES as readonly string[]).includes(state);
}

/**
 * The orchestrator's own Tacker v2 subscription calls back here. Tacker tests the URI with GET and
 * needs 204; each POST is one operation's state. A result is stored before the 204 (v2 never sends
 * it again) and wakes the deployment waiting on it; anything else is acknowledged and dropped.
 */
export function orchestratorTackerRouter(options: OrchestratorTackerRouterOptions): Router {
  const router = Router();
  const authenticate = authenticateCallback(options.auth, options.logger);
  const limitAuthenticated = createRateLimits(options.http.rateLimit).authenticated;
  const readBody = express.raw({ type: () => true, limit: bodyLimitFor(options.http, ORCHESTRATOR_TACKER_NOTIFICATIONS_PATH) });
  router.get(ORCHESTRATOR_TACKER_NOTIFICATIONS_PATH, authenticate, limitAuthenticated, (_req, res) => {
    res.status(204).end();
  });
  router.post(ORCHESTRATOR_TACKER_NOTIFICATIONS_PATH, authenticate, limitAuthenticated, readBody, async (req, res) => {
    const body = readRawJsonBody(req, 'notification');
    const parsed = parseLcmNotification(body, { apiVersion: 'v2' });
    const notification = parsed.kind === 'lcm-op-occ' ? parsed.notification : undefined;
    const operationState = notification?.operationState;
    if (notification === undefined || operationState === undefined || !isResultState(operationState)) {
      res.status(204).end();
      return;
    }
    const isNew = await options.inbox.recordOperationEvent({
      vnfLcmOpOccId: notification.vnfLcmOpOccId,
      vnfInstanceId: notification.vnfInstanceId,
      operation: notification.operation,
      operationState,
      time: Date.parse(notification.timeStamp),
      receivedAt: options.now(),
    });
    options.arrivals.announce(notification.vnfLcmOpOccId);
    options.logger.info('Tacker operation result received', {
      vnfLcmOpOccId: notification.vnfLcmOpOccId,
      vnfInstanceId: notification.vnfInstanceId,
      operation: notification.operation,
      operationState: notification.operationState,
      duplicate: !isNew,
    });
    res.status(204).end();
  });
  return router;
}
