import type { RequestHandler, Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { HttpConfig, RateLimitConfig } from '../config.js';
import { durationToMs } from '../duration.js';
import { AppError } from '../errors.js';
import { sendProblem } from './problem-details.js';

/** What a router that authenticates by itself needs of http: its body limit and its rate budget. */
export type RouteHttpSettings = Pick<HttpConfig, 'bodyLimits' | 'bodyLimitBytes' | 'rateLimit'>;

declare module 'express-serve-static-core' {
  interface Locals {
    /** Who the request proved to be (API token name, Tacker callback, injector signature); unset until then. */
    authenticatedAs?: string;
  }
}

/**
 * Two budgets per window. `unauthenticated` runs first, on every request, keyed by client address:
 * a request that goes on to authenticate is given back to the budget when it ends, so the budget
 * counts open routes and failed credentials (guessing, floods) only. `authenticated` runs right
 * after a successful authentication, keyed by the credential, so one noisy client cannot starve
 * the others.
 */
export interface RateLimits {
  unauthenticated: RequestHandler;
  authenticated: RequestHandler;
}

/** Marks the request as authenticated as `who`; the routes' own authentication calls this on success. */
export function markAuthenticated(res: Response, who: string): void {
  res.locals.authenticatedAs = who;
}

const tooMany: RequestHandler = (req, res) => {
  sendProblem(res, new AppError('RATE_LIMITED', 'Too many requests; retry after the time in Retry-After.', { retryable: true }), req.originalUrl);
};

export function createRateLimits(settings: RateLimitConfig): RateLimits {
  const windowMs = durationToMs(settings.window);
  const common = { windowMs, standardHeaders: 'draft-7', legacyHeaders: false, handler: tooMany } as const;
  return {
    unauthenticated: rateLimit({
      ...common,
      limit: settings.unauthenticated,
      skipSuccessfulRequests: true,
      requestWasSuccessful: (_req, res) => res.locals.authenticatedAs !== undefined,
    }),
    authenticated: rateLimit({
      ...common,
      limit: settings.authenticated,
      skip: (_req, res) => res.locals.authenticatedAs === undefined,
      keyGenerator: (_req, res) => `as:${res.locals.authenticatedAs ?? ''}`,
    }),
  };
}
