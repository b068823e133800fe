import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Scope } from '../config.js';
import { AppError } from '../errors.js';
import { sendProblem } from './problem-details.js';
import { markAuthenticated } from './rate-limits.js';

export interface ApiPrincipal {
  name: string;
  scopes: ReadonlySet<Scope>;
}

export interface ApiToken {
  name: string;
  token: string;
  scopes: Scope[];
}

declare module 'express-serve-static-core' {
  interface Locals {
    principal?: ApiPrincipal;
  }
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Compares digests in constant time so a token cannot be guessed byte by byte from timing. */
export function authenticateBearer(tokens: ApiToken[], anonymousPaths: ReadonlySet<string>, mode: 'bearer' | 'none'): RequestHandler {
  const known = tokens.map((token) => ({ ...token, digest: digest(token.token) }));
  return (req, res, next) => {
    if (mode === 'none') {
      res.locals.principal = { name: 'anonymous', scopes: new Set<Scope>(['read', 'write', 'secrets']) };
      next();
      return;
    }
    if (anonymousPaths.has(req.path)) {
      next();
      return;
    }
    const match = /^Bearer ([\x21-\x7e]+)$/.exec(req.get('authorization') ?? '');
    const presented = match?.[1] === undefined ? undefined : digest(match[1]);
    const holder = presented === undefined ? undefined : known.find((token) => timingSafeEqual(token.digest, presented));
    if (holder === undefined) {
      sendProblem(res, new AppError('UNAUTHENTICATED', 'A valid bearer token is required.'), req.originalUrl);
      return;
    }
    res.locals.principal = { name: holder.name, scopes: new Set(holder.scopes) };
    markAuthenticated(res, `token:${holder.name}`);
    next();
  };
}

export function requireScope(scope: Scope): RequestHandler {
  return (req, res, next) => {
    const principal = res.locals.principal;
    if (principal !== undefined && !principal.scopes.has(scope)) {
      sendProblem(res, new AppError('FORBIDDEN', `This token lacks the ${scope} scope.`), req.originalUrl);
      return;
    }
    next();
  };
}

export function hasScope(principal: ApiPrincipal | undefined, scope: Scope): boolean {
  return principal?.scopes.has(scope) ?? false;
}
