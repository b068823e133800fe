import { createPublicKey, hash, timingSafeEqual, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { sendProblem } from './problem-details.js';
import { markAuthenticated } from './rate-limits.js';

/**
 * How Tacker authenticates to our callback URI (ETSI SOL 013 §8.3.4, as Tacker implements it):
 * HTTP Basic, or an OAuth 2.0 client-credentials bearer token that we validate by RFC 7662
 * introspection at the token issuer or against a static JWKS. Configured per route.
 */
export type CallbackAuthenticator =
  | { kind: 'none' }
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'oauth2-introspection'; introspectionUrl: string; clientId: string; clientSecret: string }
  | { kind: 'oauth2-jwks'; keys: JsonWebKey[]; issuer?: string; audience?: string };

const sha256 = (value: string): Buffer => hash('sha256', value, 'buffer');
const INTROSPECTION_CACHE_MS = 60_000;
const INTROSPECTION_CACHE_MAX = 1_000;
const INTROSPECTION_TIMEOUT_MS = 5_000;

function sameSecret(presented: string, expected: string): boolean {
  return timingSafeEqual(sha256(presented), sha256(expected));
}

function checkBasic(header: string, auth: { username: string; password: string }): boolean {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header);
  if (!match?.[1]) return false;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  // Both compared, always: no early exit that would time which half was wrong.
  const userOk = sameSecret(decoded.slice(0, colon), auth.username);
  const passwordOk = sameSecret(decoded.slice(colon + 1), auth.password);
  return userOk && passwordOk;
}

function bearerOf(header: string): string | undefined {
  return /^Bearer ([\x21-\x7e]+)$/.exec(header)?.[1];
}

interface JwtParts {
  header: { alg?: string; kid?: string };
  payload: { exp?: number; nbf?: number; iss?: string; aud?: string | string[] };
  signingInput: string;
  signature: Buffer;
}

function splitJwt(token: string): JwtParts | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    return {
      header: JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString('utf8')) as JwtParts['header'],
      payload: JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8')) as JwtParts['payload'],
      signingInput: `${parts[0]}.${parts[1]}`,
      signature: Buffer.from(parts[2] ?? '', 'base64url'),
    };
  } catch {
    return undefined;
  }
}

const ALGORITHMS: Record<string, { hash: string; dsaEncoding?: 'ieee-p1363' }> = {
  RS256: { hash: 'sha256' },
  RS384: { hash: 'sha384' },
  RS512: { hash: 'sha512' },
  ES256: { hash: 'sha256', dsaEncoding: 'ieee-p1363' },
  ES384: { hash: 'sha384', dsaEncoding: 'ieee-p1363' },
};

function claimsAcceptable(payload: JwtParts['payload'], auth: { issuer?: string; audience?: string }, nowSeconds: number): boolean {
  if (typeof payload.exp !== 'number' || payload.exp <= nowSeconds) return false;
  if (typeof payload.nbf === 'number' && payload.nbf > nowSeconds + 60) return false;
  if (auth.issuer !== undefined && payload.iss !== auth.issuer) return false;
  const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  return auth.audience === undefined || audiences.includes(auth.audience);
}

/** Only algorithms we list are accepted: `alg: none` and HMAC confusion attacks cannot apply. */
export function verifyJwt(token: string, keys: ReadonlyMap<string | undefined, KeyObject>, auth: { issuer?: string; audience?: string }, nowSeconds: number): boolean {
  const jwt = splitJwt(token);
  const algorithm = jwt?.header.alg === undefined ? undefined : ALGORITHMS[jwt.header.alg];
  if (jwt === undefined || algorithm === undefined) return false;
  const key = keys.get(jwt.header.kid) ?? (keys.size === 1 ? [...keys.values()][0] : undefined);
  if (key === undefined) return false;
  const valid = verify(algorithm.hash, Buffer.from(jwt.signingInput), { key, ...(algorithm.dsaEncoding ? { dsaEncoding: algorithm.dsaEncoding } : {}) }, jwt.signature);
  return valid && claimsAcceptable(jwt.payload, auth, nowSeconds);
}

export function jwksKeys(keys: JsonWebKey[]): Map<string | undefined, KeyObject> {
  return new Map(keys.map((jwk) => [typeof jwk.kid === 'string' ? jwk.kid : undefined, createPublicKey({ key: jwk, format: 'jwk' })]));
}

/** Introspection answers are cached briefly by token digest, so a burst of notifications costs one call. */
class IntrospectionClient {
  private readonly cache = new Map<string, number>();

  constructor(private readonly auth: { introspectionUrl: string; clientId: string; clientSecret: string }) {}

  async isActive(token: string, nowMs: number): Promise<boolean> {
    const key = sha256(token).toString('hex');
    const until = this.cache.get(key);
    if (until !== undefined && until > nowMs) return true;
    const response = await fetch(this.auth.introspectionUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(this.auth.clientId)}:${encodeURIComponent(this.auth.clientSecret)}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
      signal: AbortSignal.timeout(INTROSPECTION_TIMEOUT_MS),
    });
    if (!response.ok) throw new AppError('SERVICE_UNREACHABLE', `Token introspection answered HTTP ${response.status}.`, { retryable: true });
    const body = (await response.json()) as { active?: unknown; exp?: unknown };
    if (body.active !== true) return false;
    if (this.cache.size >= INTROSPECTION_CACHE_MAX) this.cache.clear();
    const expMs = typeof body.exp === 'number' ? body.exp * 1000 : nowMs + INTROSPECTION_CACHE_MS;
    this.cache.set(key, Math.min(expMs, nowMs + INTROSPECTION_CACHE_MS));
    return true;
  }
}

function challengeFor(auth: CallbackAuthenticator): string {
  return auth.kind === 'basic' ? 'Basic realm="vm-sidecar-injector", charset="UTF-8"' : 'Bearer realm="vm-sidecar-injector", error="invalid_token"';
}

function checker(auth: CallbackAuthenticator): (header: string, nowMs: number) => Promise<boolean> {
  switch (auth.kind) {
    case 'none':
      return () => Promise.resolve(true);
    case 'basic': {
      // Tacker sends the one canonical encoding of the configured pair on every request, so the
      // header is compared whole against its digest: one hash, constant time, no decoding. Any
      // other spelling of valid credentials still passes the full check.
      const expectedHeader = sha256(`Basic ${Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64')}`);
      return (header) => Promise.resolve(timingSafeEqual(sha256(header), expectedHeader) || checkBasic(header, auth));
    }
    case 'oauth2-introspection': {
      const client = new IntrospectionClient(auth);
      return async (header, nowMs) => {
        const token = bearerOf(header);
        return token !== undefined && (await client.isActive(token, nowMs));
      };
    }
    case 'oauth2-jwks': {
      const keys = jwksKeys(auth.keys);
      return (header, nowMs) => {
        const token = bearerOf(header);
        return Promise.resolve(token !== undefined && verifyJwt(token, keys, auth, Math.floor(nowMs / 1000)));
      };
    }
  }
}

/** Wrong or missing credentials: 401 with the challenge Tacker needs, nothing stored, nothing logged but the fact. */
export function authenticateCallback(auth: CallbackAuthenticator, logger: Logger): RequestHandler {
  const check = checker(auth);
  return (req, res, next) => {
    check(req.get('authorization') ?? '', Date.now()).then(
      (ok) => {
        if (ok) {
          if (auth.kind !== 'none') markAuthenticated(res, `tacker-callback:${auth.kind}`);
          next();
          return;
        }
        logger.warn('Callback request refused: wrong or missing credentials', { path: req.path, method: req.method });
        res.setHeader('WWW-Authenticate', challengeFor(auth));
        sendProblem(res, new AppError('UNAUTHENTICATED', 'The callback credentials are missing or wrong.'), req.originalUrl);
      },
      (error: unknown) => next(error),
    );
  };
}
