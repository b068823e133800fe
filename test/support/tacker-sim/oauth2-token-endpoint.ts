import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../../src/clock.js';
import { headerValue, readBody, writeResponse, type SimResponse } from './sim-http.js';
import { realClock } from './tacker-time.js';

export interface OAuth2Client {
  clientId: string;
  clientSecret: string;
}

export interface OAuth2TokenEndpointOptions extends OAuth2Client {
  /** `expires_in` of issued tokens; 3600 s when not given. */
  expiresInSeconds?: number;
  /**
   * Tacker v1 asks for its token with a GET carrying the form (tacker/common/auth.py,
   * _ClientCredentialsGrant). RFC 6749 §3.2 requires POST, so GET is refused unless allowed here.
   */
  allowGetTokenRequests?: boolean;
  /** Further clients allowed to introspect (the resource server's own credentials). */
  introspectionClients?: OAuth2Client[];
  clock?: Clock;
}

export interface IssuedToken {
  accessToken: string;
  clientId: string;
  scope?: string;
  /** Seconds since the epoch, as `iat`/`exp` are written. */
  issuedAt: number;
  expiresAt: number;
  method: string;
}

/** Every request to the token endpoint, answered or refused. */
export interface TokenRequestRecord {
  method: string;
  status: number;
  error?: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface OAuth2TokenEndpoint {
  tokenEndpoint: string;
  introspectionEndpoint: string;
  issuedTokens(): IssuedToken[];
  tokenRequests(): TokenRequestRecord[];
  /** Makes a token inactive before it expires. */
  revoke(accessToken: string): void;
  close(): Promise<void>;
}

type Credentials = { kind: 'none' } | { kind: 'invalid'; viaBasic: boolean } | { kind: 'client'; client: OAuth2Client; viaBasic: boolean };

/** RFC 6749 §5.2: a JSON error object, no-store; invalid_client over Basic is a 401 with a challenge. */
function oauthError(status: number, error: string, description?: string): SimResponse {
  const headers: Record<string, string> = { 'Content-Type': 'application/json;charset=UTF-8', 'Cache-Control': 'no-store', Pragma: 'no-cache' };
  if (status === 401) headers['WWW-Authenticate'] = 'Basic realm="vmsi-test-oauth2"';
  return { status, headers, body: { error, ...(description === undefined ? {} : { error_description: description }) } };
}

/** RFC 6749 §2.3.1: client id and secret are form-encoded before they go into Basic. */
function basicCredentials(header: string): OAuth2Client | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(header);
  if (match === null) return undefined;
  const decoded = Buffer.from(match[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const decode = (value: string): string => decodeURIComponent(value.replace(/\+/g, ' '));
  return { clientId: decode(decoded.slice(0, colon)), clientSecret: decode(decoded.slice(colon + 1)) };
}

function authenticate(request: IncomingMessage, form: URLSearchParams, clients: OAuth2Client[]): Credentials | 'multiple' {
  const header = headerValue(request.headers, 'authorization');
  const inBody = form.has('client_secret');
  if (header !== undefined && inBody) return 'multiple';
  const presented = header !== undefined ? basicCredentials(header) : inBody ? { clientId: form.get('client_id') ?? '', clientSecret: form.get('client_secret') ?? '' } : undefined;
  if (header === undefined && !inBody) return { kind: 'none' };
  const client = clients.find((candidate) => candidate.clientId === presented?.clientId && candidate.clientSecret === presented.clientSecret);
  return client === undefined ? { kind: 'invalid', viaBasic: header !== undefined } : { kind: 'client', client, viaBasic: header !== undefined };
}

/**
 * A client-credentials token endpoint (RFC 6749 §4.4) with token introspection (RFC 7662), for
 * tests of Tacker's OAUTH2_CLIENT_CREDENTIALS callback authentication and of a plugin that checks
 * the bearer tokens it receives.
 */
export async function startOAuth2TokenEndpoint(options: OAuth2TokenEndpointOptions): Promise<OAuth2TokenEndpoint> {
  const clock = options.clock ?? realClock;
  const issued: IssuedToken[] = [];
  const requests: TokenRequestRecord[] = [];
  const revoked = new Set<string>();
  const client: OAuth2Client = { clientId: options.clientId, clientSecret: options.clientSecret };

  const token = (request: IncomingMessage, form: URLSearchParams): SimResponse => {
    const refusal = tokenRefusal(request, form, { client, allowGet: options.allowGetTokenRequests === true });
    if (refusal !== undefined) return refusal;
    const now = Math.floor(clock.now() / 1000);
    const expiresIn = options.expiresInSeconds ?? 3600;
    const scope = form.get('scope') ?? undefined;
    const scopeField = scope === undefined ? {} : { scope };
    const entry: IssuedToken = { accessToken: randomBytes(24).toString('base64url'), clientId: client.clientId, issuedAt: now, expiresAt: now + expiresIn, method: request.method ?? '', ...scopeField };
    issued.push(entry);
    return {
      status: 200,
      headers: { 'Content-Type': 'application/json;charset=UTF-8', 'Cache-Control': 'no-store', Pragma: 'no-cache' },
      body: { access_token: entry.accessToken, token_type: 'Bearer', expires_in: expiresIn, ...scopeField },
    };
  };

  /** RFC 7662 §2: the caller authenticates; unknown, expired or revoked tokens are just inactive. */
  const introspect = (request: IncomingMessage, form: URLSearchParams): SimResponse => {
    if (request.method !== 'POST') return oauthError(405, 'invalid_request');
    const credentials = authenticate(request, form, [client, ...(options.introspectionClients ?? [])]);
    if (credentials === 'multiple' || credentials.kind !== 'client') return oauthError(401, 'invalid_client');
    const value = form.get('token');
    if (value === null) return oauthError(400, 'invalid_request', 'token is required.');
    const entry = issued.find((candidate) => candidate.accessToken === value && candidate.expiresAt > Math.floor(clock.now() / 1000) && !revoked.has(value));
    return { status: 200, headers: { 'Content-Type': 'application/json' }, body: introspectionOf(entry) };
  };

  const handlers: Record<string, (request: IncomingMessage, form: URLSearchParams) => SimResponse> = { '/token': token, '/introspect': introspect };
  const server: Server = createServer((request, response) => {
    void readBody(request).then((raw) => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      const form = new URLSearchParams(raw === '' ? url.search : raw);
      const handler = handlers[url.pathname];
      const result = handler === undefined ? { status: 404 } : isForm(request) ? handler(request, form) : oauthError(400, 'invalid_request', 'The body must be application/x-www-form-urlencoded.');
      if (url.pathname === '/token') requests.push({ method: request.method ?? '', status: result.status, headers: { ...request.headers }, ...errorOf(result) });
      writeResponse(response, result);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    tokenEndpoint: `${base}/token`,
    introspectionEndpoint: `${base}/introspect`,
    issuedTokens: () => [...issued],
    tokenRequests: () => [...requests],
    revoke: (accessToken) => revoked.add(accessToken),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** RFC 6749 §3.2, §2.3 and §4.4.2, in the order a request fails them. */
function tokenRefusal(request: IncomingMessage, form: URLSearchParams, policy: { client: OAuth2Client; allowGet: boolean }): SimResponse | undefined {
  const isAllowedMethod = request.method === 'POST' || (request.method === 'GET' && policy.allowGet);
  if (!isAllowedMethod) return oauthError(405, 'invalid_request', 'The token endpoint requires POST (RFC 6749 §3.2).');
  const credentials = authenticate(request, form, [policy.client]);
  if (credentials === 'multiple') return oauthError(400, 'invalid_request', 'More than one client authentication method.');
  if (credentials.kind !== 'client') return oauthError(credentials.kind === 'invalid' && credentials.viaBasic ? 401 : 400, 'invalid_client');
  const grantType = form.get('grant_type');
  if (grantType === null) return oauthError(400, 'invalid_request', 'grant_type is required.');
  if (grantType !== 'client_credentials') return oauthError(400, 'unsupported_grant_type');
  return undefined;
}

/** RFC 7662 §2.2: inactive tokens reveal nothing else. */
function introspectionOf(entry: IssuedToken | undefined): Record<string, unknown> {
  if (entry === undefined) return { active: false };
  return { active: true, client_id: entry.clientId, token_type: 'Bearer', exp: entry.expiresAt, iat: entry.issuedAt, ...(entry.scope === undefined ? {} : { scope: entry.scope }) };
}

/** RFC 6749 §4.4.2 and RFC 7662 §2.1: POST bodies are forms (v1's GET carries one too, unchecked). */
function isForm(request: IncomingMessage): boolean {
  return request.method !== 'POST' || headerValue(request.headers, 'content-type')?.startsWith('application/x-www-form-urlencoded') === true;
}

function errorOf(result: SimResponse): { error?: string } {
  const body = result.body as { error?: unknown } | undefined;
  return typeof body?.error === 'string' ? { error: body.error } : {};
}
