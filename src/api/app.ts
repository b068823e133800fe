import express, { type Express, type RequestHandler } from 'express';
import { bodyLimitFor, type Config } from '../config.js';
import { createRateLimits } from './rate-limits.js';
import type { Logger } from '../log.js';
import type { RenderDependencies } from '../render/render-injection.js';
import { authenticateBearer, type ApiToken } from './authentication.js';
import { healthRouter, type ReadinessCheck } from './health-router.js';
import type { ServiceMetrics } from './metrics.js';
import { errorHandler, notFoundHandler } from './problem-details.js';
import { renderRouter } from './render-router.js';
import { injectionRouter } from './injection-router.js';
import { openApiRouter } from './openapi-router.js';
import { uiRouter } from './ui-router.js';
import { traceIncomingRequests } from '../telemetry/tracing.js';
import type { InjectionService } from '../injection/injection-service.js';
import type { Router } from 'express';

export interface AppDependencies {
  config: Config;
  logger: Logger;
  metrics: ServiceMetrics;
  render: RenderDependencies;
  /** Absent in render-only setups (tests of the dry run); the job routes then answer 404. */
  injections?: InjectionService;
  /** Tacker's callback routes, authenticated by Tacker's own method instead of API tokens. */
  tackerCallbacks?: Router;
  tackerMgmt?: Router;
  /** The orchestrator's API (bearer) and its event inbox (authenticated by the injector's signature). */
  orchestrator?: Router;
  orchestratorEvents?: Router;
  /** Where the orchestrator's Tacker subscription calls back, authenticated as Tacker's callbacks are. */
  orchestratorTackerCallbacks?: Router;
  apiTokens: ApiToken[];
  readinessChecks: ReadinessCheck[];
}

function observeRequests(metrics: ServiceMetrics): RequestHandler {
  return (req, res, next) => {
    const stop = metrics.httpRequestDuration.startTimer({ method: req.method });
    res.on('finish', () => {
      // The matched route pattern, never the raw URL: ids in paths would explode label cardinality.
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      stop({ route, status: String(res.statusCode) });
    });
    next();
  };
}

/** JSON and YAML body parsers, one pair per distinct body limit, chosen by the request path. */
function bodyParsers(http: Config['http']): RequestHandler {
  const byLimit = new Map<number, [RequestHandler, RequestHandler]>();
  const parsersFor = (limit: number): [RequestHandler, RequestHandler] => {
    let parsers = byLimit.get(limit);
    if (parsers === undefined) {
      parsers = [
        express.json({ limit, strict: true, type: ['application/json', 'application/*+json'] }),
        express.text({ limit, type: ['application/yaml', 'application/x-yaml', 'text/yaml'] }),
      ];
      byLimit.set(limit, parsers);
    }
    return parsers;
  };
  return (req, res, next) => {
    const [json, text] = parsersFor(bodyLimitFor(http, req.path));
    json(req, res, (error?: unknown) => (error === undefined ? text(req, res, next) : next(error)));
  };
}

export function createApp(deps: AppDependencies): Express {
  const { config, logger, metrics } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(traceIncomingRequests());
  app.use(observeRequests(metrics));
  const limits = createRateLimits(config.http.rateLimit);
  // Before any authentication: floods and credential guessing are stopped before they cost a check.
  app.use(limits.unauthenticated);
  app.use(uiRouter());
  if (deps.tackerCallbacks !== undefined) app.use(deps.tackerCallbacks);
  if (deps.orchestratorEvents !== undefined) app.use(deps.orchestratorEvents);
  if (deps.orchestratorTackerCallbacks !== undefined) app.use(deps.orchestratorTackerCallbacks);
  app.use(
    authenticateBearer(deps.apiTokens, new Set(config.http.auth.anonymousPaths), config.http.auth.mode),
  );
  app.use(limits.authenticated);
  app.use(bodyParsers(config.http));
  app.use(healthRouter(deps.readinessChecks, metrics.registry));
  app.use(renderRouter(deps.render, metrics, logger));
  app.use(openApiRouter({ injections: deps.injections !== undefined, tackerApiVersions: deps.tackerMgmt === undefined ? [] : (config.tacker?.apiVersions ?? []), orchestrator: deps.orchestrator !== undefined }));
  if (deps.injections !== undefined) app.use(injectionRouter(deps.injections));
  if (deps.tackerMgmt !== undefined) app.use(deps.tackerMgmt);
  if (deps.orchestrator !== undefined) app.use(deps.orchestrator);
  app.use(notFoundHandler);
  app.use(errorHandler(logger));
  return app;
}
