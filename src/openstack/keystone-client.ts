import { z } from 'zod';
import { systemClock, type Clock } from '../clock.js';
import { AppError } from '../errors.js';
import { registerSecret, sha256Hex, type Logger } from '../log.js';
import { createHttpTransport, describeTransportError, type HttpReply, type HttpTransport } from './http-transport.js';
import { OPENSTACK_ERROR_CODES, abortError, statusError, unavailableError, type RequestContext } from './openstack-errors.js';
import { catalogEntrySchema, selectEndpoint, type CatalogEntry, type EndpointInterface } from './service-catalog.js';

/**
 * Keystone v3 identity for the adapters: one scoped token, reused until shortly before it expires,
 * fetched by one request however many callers ask at once, and the service catalog it carries.
 * Secrets (password, application credential secret, token) are registered with the log redactor
 * and kept in private fields, so neither a log line nor an inspected object shows them.
 */

export type DomainRef = { id: string } | { name: string };
/** A user by id, or by name within a domain (names are unique per domain only). */
export type UserRef = { id: string } | { name: string; domain: DomainRef };
export type ProjectRef = { id: string } | { name: string; domain: DomainRef };

export type KeystoneAuth =
  /** An application credential is already scoped to its project; Keystone refuses a scope with it. */
  | { method: 'application_credential'; id: string; secret: string }
  | { method: 'application_credential'; name: string; user: UserRef; secret: string }
  | { method: 'password'; user: UserRef; password: string; project: ProjectRef };

export interface KeystoneToken {
  /** The X-Subject-Token value; registered as a secret. */
  authToken: string;
  /** Keystone's `expires_at`, as it sent it. */
  expiresAt: string;
  catalog: CatalogEntry[];
  projectId?: string;
}

export interface WaitOptions {
  signal?: AbortSignal;
}

/** What the OpenStack and Tacker adapters need from identity. */
export interface Identity {
  token(options?: WaitOptions): Promise<KeystoneToken>;
  /** The URL for a service type at the configured interface and region (or its configured override). */
  endpoint(serviceType: string, options?: WaitOptions): Promise<string>;
  /** Drops the cached token when a service refused it (revoked, or expired early), so the next call fetches a new one. */
  invalidate(authToken: string): void;
}

export interface KeystoneClientOptions {
  /** e.g. https://keystone.example.com:5000/v3 or https://cloud.example.com/identity; `/v3` is added when missing. */
  authUrl: string;
  auth: KeystoneAuth;
  region?: string;
  /** Default public. */
  interface?: EndpointInterface;
  /** A token is replaced this long before it expires (capped at half its lifetime). Default 5 minutes. */
  refreshMarginMs?: number;
  /** Bounds one request to Keystone. Default 30 seconds. */
  requestTimeoutMs?: number;
  /** Service type → URL, for clouds whose catalog lists URLs this service cannot reach. */
  endpointOverrides?: Record<string, string>;
  /** Shared with the service adapters so that one CA bundle serves all of them. */
  transport?: HttpTransport;
  clock?: Clock;
  logger?: Logger;
}

export const DEFAULT_TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;
export const DEFAULT_OPENSTACK_REQUEST_TIMEOUT_MS = 30_000;

const tokenBodySchema = z.object({
  token: z.object({
    expires_at: z.string(),
    issued_at: z.string().optional(),
    catalog: z.array(catalogEntrySchema).optional(),
    project: z.object({ id: z.string() }).optional(),
  }),
});

const AUTH_OPERATION = 'POST /v3/auth/tokens';
/** registerSecret ignores shorter values: they would match ordinary words. */
const MIN_REDACTABLE_SECRET_CHARS = 8;

/** Both on this service's clock, so a skewed Keystone clock neither hides expiry nor forces a refresh per call. */
interface CachedToken {
  token: KeystoneToken;
  refreshAtMs: number;
  /** Until when the token may still be handed out if a refresh fails: expiry less time for the request that uses it. */
  usableUntilMs: number;
}

/** A token handed out must outlive the request it authenticates. */
const EXPIRY_SAFETY_MS = 30_000;

export class KeystoneClient implements Identity {
  readonly #auth: KeystoneAuth;
  readonly tokensUrl: URL;
  readonly transport: HttpTransport;
  private readonly interfaceName: EndpointInterface;
  private readonly region: string | undefined;
  private readonly refreshMarginMs: number;
  private readonly requestTimeoutMs: number;
  private readonly overrides: Record<string, string>;
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;
  /** Private fields: an inspected or logged client shows no token. */
  #cached: CachedToken | undefined;
  #pending: Promise<KeystoneToken> | undefined;

  constructor(options: KeystoneClientOptions) {
    this.tokensUrl = tokensUrlOf(options.authUrl);
    this.#auth = checkedAuth(options.auth);
    registerSecret(secretOf(this.#auth));
    this.transport = options.transport ?? createHttpTransport();
    this.interfaceName = options.interface ?? 'public';
    this.region = options.region;
    this.refreshMarginMs = options.refreshMarginMs ?? DEFAULT_TOKEN_REFRESH_MARGIN_MS;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_OPENSTACK_REQUEST_TIMEOUT_MS;
    this.overrides = { ...options.endpointOverrides };
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    if (secretOf(this.#auth).length < MIN_REDACTABLE_SECRET_CHARS) {
      this.logger?.warn('The Keystone secret is too short for the log redactor to find it in free text; use a longer one.', { method: this.#auth.method });
    }
  }

  /**
   * The cached token while it is fresh; otherwise the one request in flight, started by the first
   * caller. A caller's abort ends its own wait only: the others still get the token.
   */
  token(options: WaitOptions = {}): Promise<KeystoneToken> {
    const cached = this.#cached;
    if (cached !== undefined && this.clock.now() < cached.refreshAtMs) return Promise.resolve(cached.token);
    const refreshed = raceAbort(this.refresh(), options.signal);
    if (cached === undefined) return refreshed;
    // Refreshing early exists to ride out a Keystone hiccup: while the old token is still valid, a failed refresh is not the caller's failure.
    return refreshed.catch((error: unknown) => {
      if (options.signal?.aborted === true || !(error instanceof AppError) || !error.retryable || this.clock.now() >= cached.usableUntilMs) throw error;
      this.logger?.warn('Keystone did not renew the token; using the current one until it expires.', { error: error.message, expiresAt: cached.token.expiresAt });
      return cached.token;
    });
  }

  private refresh(): Promise<KeystoneToken> {
    if (this.#pending !== undefined) return this.#pending;
    const request = this.authenticate().finally(() => {
      if (this.#pending === request) this.#pending = undefined;
    });
    // Every caller handles the outcome; this only keeps an abandoned request from reading as unhandled.
    request.catch(() => undefined);
    this.#pending = request;
    return request;
  }

  async endpoint(serviceType: string, options: WaitOptions = {}): Promise<string> {
    const override = this.overrides[serviceType];
    if (override !== undefined) return override;
    const token = await this.token(options);
    return selectEndpoint(token.catalog, { type: serviceType, interface: this.interfaceName, ...(this.region === undefined ? {} : { region: this.region }) });
  }

  invalidate(authToken: string): void {
    if (this.#cached?.token.authToken === authToken) this.#cached = undefined;
  }

  private async authenticate(): Promise<KeystoneToken> {
    const context: RequestContext = { service: 'Keystone', operation: AUTH_OPERATION };
    let reply: HttpReply;
    try {
      reply = await this.transport.send({
        method: 'POST',
        url: this.tokensUrl,
        headers: { 'content-type': 'application/json', accept: 'application/json', 'user-agent': 'vm-sidecar-injector' },
        body: JSON.stringify(authRequestBody(this.#auth)),
        timeoutMs: this.requestTimeoutMs,
      });
    } catch (error) {
      throw unavailableError(context, describeTransportError(error), error);
    }
    if (reply.status !== 201 && reply.status !== 200) throw statusError(context, reply.status, reply.text);
    return this.accept(reply);
  }

  private accept(reply: HttpReply): KeystoneToken {
    const receivedAtMs = this.clock.now();
    const authToken = reply.headers.get('x-subject-token');
    if (authToken === null || authToken === '') throw unexpected('Keystone issued no X-Subject-Token header.');
    registerSecret(authToken);
    const body = parseTokenBody(reply.text);
    const token: KeystoneToken = {
      authToken,
      expiresAt: body.expires_at,
      catalog: body.catalog ?? [],
      ...(body.project === undefined ? {} : { projectId: body.project.id }),
    };
    const lifetimeMs = tokenLifetimeMs(body, receivedAtMs);
    const expiresAtMs = receivedAtMs + lifetimeMs;
    this.#cached = { token, refreshAtMs: expiresAtMs - Math.min(this.refreshMarginMs, lifetimeMs / 2), usableUntilMs: expiresAtMs - EXPIRY_SAFETY_MS };
    this.logger?.debug('Keystone issued a token.', {
      authUrl: this.tokensUrl.href,
      method: this.#auth.method,
      expiresAt: body.expires_at,
      tokenSha256: sha256Hex(authToken),
    });
    return token;
  }
}

function parseTokenBody(text: string): z.infer<typeof tokenBodySchema>['token'] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw unexpected('Keystone answered the token request with a body that is not JSON.', cause);
  }
  const parsed = tokenBodySchema.safeParse(json);
  if (!parsed.success) throw unexpected('Keystone answered the token request without token.expires_at.', parsed.error);
  if (Number.isNaN(Date.parse(parsed.data.token.expires_at))) throw unexpected('Keystone sent an expires_at that is not a time.');
  return parsed.data.token;
}

/** From Keystone's own issued_at and expires_at when it sends both: both on its clock, so skew cancels out. */
function tokenLifetimeMs(body: z.infer<typeof tokenBodySchema>['token'], receivedAtMs: number): number {
  const expiresAtMs = Date.parse(body.expires_at);
  const issuedAtMs = body.issued_at === undefined ? Number.NaN : Date.parse(body.issued_at);
  const lifetimeMs = Number.isNaN(issuedAtMs) ? expiresAtMs - receivedAtMs : expiresAtMs - issuedAtMs;
  return Math.max(0, lifetimeMs);
}

function unexpected(message: string, cause?: unknown): AppError {
  return new AppError(OPENSTACK_ERROR_CODES.unexpectedAnswer, message, { details: { service: 'Keystone', operation: AUTH_OPERATION }, cause });
}

/**
 * `…/v3/auth/tokens` under the configured URL. Operators copy OS_AUTH_URL, which comes with and
 * without `/v3`, and under a path prefix on clouds that serve Keystone at `/identity`.
 */
export function tokensUrlOf(authUrl: string): URL {
  let url: URL;
  try {
    url = new URL(authUrl);
  } catch (cause) {
    throw new AppError(OPENSTACK_ERROR_CODES.misconfigured, 'The Keystone auth URL is not a URL.', { cause });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new AppError(OPENSTACK_ERROR_CODES.misconfigured, 'The Keystone auth URL must be http or https.');
  if (url.username !== '' || url.password !== '') throw new AppError(OPENSTACK_ERROR_CODES.misconfigured, 'The Keystone auth URL must not contain credentials.');
  const path = url.pathname.replace(/\/+$/, '');
  if (/\/v2\.0$/.test(path)) {
    throw new AppError(OPENSTACK_ERROR_CODES.misconfigured, 'The Keystone auth URL points at the v2.0 API, which Keystone removed; use the v3 URL.', { details: { authUrl: url.href } });
  }
  url.pathname = /\/v3$/.test(path) ? `${path}/auth/tokens` : `${path}/v3/auth/tokens`;
  url.search = '';
  url.hash = '';
  return url;
}

function secretOf(auth: KeystoneAuth): string {
  return auth.method === 'password' ? auth.password : auth.secret;
}

function checkedAuth(auth: KeystoneAuth): KeystoneAuth {
  if (secretOf(auth).length === 0) {
    const what = auth.method === 'password' ? 'password' : 'application credential secret';
    throw new AppError(OPENSTACK_ERROR_CODES.misconfigured, `The Keystone ${what} is empty.`);
  }
  return structuredClone(auth);
}

function domainBody(domain: DomainRef): Record<string, string> {
  return 'id' in domain ? { id: domain.id } : { name: domain.name };
}

function userBody(user: UserRef): Record<string, unknown> {
  return 'id' in user ? { id: user.id } : { name: user.name, domain: domainBody(user.domain) };
}

function projectBody(project: ProjectRef): Record<string, unknown> {
  return 'id' in project ? { id: project.id } : { name: project.name, domain: domainBody(project.domain) };
}

/** The request bodies of the Identity API v3 reference, "Password authentication with scoped authorization" and "Authenticating with an Application Credential". */
export function authRequestBody(auth: KeystoneAuth): Record<string, unknown> {
  if (auth.method === 'password') {
    return {
      auth: {
        identity: { methods: ['password'], password: { user: { ...userBody(auth.user), password: auth.password } } },
        scope: { project: projectBody(auth.project) },
      },
    };
  }
  const credential = 'id' in auth ? { id: auth.id, secret: auth.secret } : { name: auth.name, user: userBody(auth.user), secret: auth.secret };
  return { auth: { identity: { methods: ['application_credential'], application_credential: credential } } };
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  const context: RequestContext = { service: 'Keystone', operation: AUTH_OPERATION };
  if (signal.aborted) return Promise.reject(abortError(signal, context));
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = (): void => reject(abortError(signal, context));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([promise, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}
