import { tracedHttp } from '../telemetry/tracing.js';
import { z } from 'zod';
import { systemClock, type Clock } from '../clock.js';
import { AppError, isAppError } from '../errors.js';
import { parseRetryAfter } from '../retry/retry-policy.js';
import { formatZodProblems } from '../validation.js';
import { identifierSchema, isRecord, type TackerApiVersion } from './sol003-fields.js';
import type { LccnSubscriptionRequest } from './subscription-request.js';
import { tackerAnswerError, tackerStatusError, tackerTransportError, type TackerRequestContext } from './tacker-errors.js';
import { normalizeTackerTimestamp } from './tacker-timestamp.js';
import { parseVnfInstance, type NormalizedVnfInstance } from './vnf-instance.js';
import type { TackerLcmReader } from '../injection/tacker-lcm-reader.js';
import type { Identity } from '../openstack/keystone-client.js';
import { SERVICE_TYPES } from '../openstack/service-catalog.js';
import { checkOutboundUrl } from '../outbound-url.js';
import { parseLcmOpOcc, type LcmOpOccListing, type LcmOpOccProblem, type LcmOpOccWithError } from './vnf-lcm-op-occ.js';

export type { LcmOpOccListing, LcmOpOccProblem, LcmOpOccWithError } from './vnf-lcm-op-occ.js';
import type { CreateVnfRequest, InstantiateVnfRequest, LcmOperationAccepted, ScaleVnfRequest, TerminateVnfRequest } from './vnf-lifecycle-requests.js';

/**
 * Tacker's SOL 003 VNF LCM API, v1 or v2, as this service uses it: reading operation occurrences
 * and instances, managing its subscriptions and, on v2 only, driving VNF lifecycle operations.
 * Requests carry the caller's Keystone token in `X-Auth-Token`; v2 requests also carry
 * `Version: 2.0.0`, without which v2 refuses every call but the version listing
 * (tacker/sol_refactored/api/api_version.py, controller/vnflcm_v2.py supported_api_versions).
 * The client does not retry: failures say whether a retry may help.
 */

/** tacker/sol_refactored/api/api_version.py CURRENT_VERSION. */
export const TACKER_V2_API_VERSION = '2.0.0';
const API_PREFIX: Record<TackerApiVersion, string> = { v1: '/vnflcm/v1', v2: '/vnflcm/v2' };
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_PAGES = 100;
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export interface TackerClientOptions {
  /** Tacker's endpoint, e.g. `http://tacker.example:9890`; the API prefix is added per request. */
  baseUrl: string;
  /** Keystone token provider; called for every request so that it can refresh. */
  token: () => Promise<string>;
  apiVersion: TackerApiVersion;
  /** Bounds one request, body included. */
  requestTimeoutMs?: number;
  /** Pages followed through `Link: rel="next"` before a listing gives up. */
  maxPages?: number;
  clock?: Clock;
}

export const lccnSubscriptionSchema = z.looseObject({
  id: identifierSchema,
  callbackUri: z.string(),
  filter: z.looseObject({}).nullish(),
  verbosity: z.enum(['FULL', 'SHORT']).nullish(),
});
export type LccnSubscription = z.infer<typeof lccnSubscriptionSchema>;

export interface SubscriptionCreation {
  subscription: LccnSubscription;
  /** False when v1 answered 303 See Other: an identical subscription already existed. */
  created: boolean;
}

type Method = 'GET' | 'POST' | 'DELETE';

interface Exchange {
  method: Method;
  url: URL;
  context: TackerRequestContext;
  body?: unknown;
  expect: number[];
  /**
   * Statuses that mean Tacker refused before acting, so the same request may be sent again later:
   * 409 on lifecycle operations (OtherOperationInProgress, or the instance's state is wrong).
   */
  retryableStatuses?: number[];
}

interface Reply {
  status: number;
  headers: Headers;
  body: unknown;
}

/** Adapter: Tacker's SOL 003 API over fetch, for the Tacker plugin (TackerLcmReader) and the orchestrator. */
export class TackerClient implements TackerLcmReader {
  readonly apiVersion: TackerApiVersion;
  private readonly base: URL;
  private readonly prefix: string;
  private readonly token: () => Promise<string>;
  private readonly requestTimeoutMs: number;
  private readonly maxPages: number;
  private readonly clock: Clock;

  /**
   * Tacker at the endpoint the Keystone catalog names (service type nfv-orchestration), checked
   * like every configured URL before anything is sent to it.
   */
  static async fromCatalog(identity: Pick<Identity, 'endpoint' | 'token'>, options: Omit<TackerClientOptions, 'baseUrl' | 'token'>): Promise<TackerClient> {
    const baseUrl = await identity.endpoint(SERVICE_TYPES.tacker);
    await checkOutboundUrl(baseUrl, 'The Tacker endpoint in the Keystone catalog');
    return new TackerClient({ ...options, baseUrl, token: async () => (await identity.token()).authToken });
  }

  constructor(options: TackerClientOptions) {
    this.base = parseBaseUrl(options.baseUrl);
    this.apiVersion = options.apiVersion;
    this.prefix = `${this.base.pathname.replace(/\/+$/, '')}${API_PREFIX[options.apiVersion]}`;
    this.token = options.token;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.maxPages = options.maxPages ?? DEFAULT_MAX_PAGES;
    this.clock = options.clock ?? systemClock;
  }

  /** A single occurrence is always answered in full, `error` included (only lists leave it out). */
  async getLcmOpOcc(id: string): Promise<LcmOpOccWithError> {
    const exchange = this.exchange('GET', `/vnf_lcm_op_occs/${encodeURIComponent(id)}`, '/vnf_lcm_op_occs/{id}');
    const reply = await this.send(exchange);
    const opOcc = readAnswer(exchange.context, () => parseLcmOpOcc(reply.body));
    const error = isRecord(reply.body) ? lcmOpOccProblemOf(reply.body.error) : undefined;
    return error === undefined ? opOcc : { ...opOcc, error };
  }

  /**
   * Operation occurrences, with every field (`all_fields`: lists leave out resourceChanges and
   * operationParams by default). v2 filters by start time itself (SOL 013 `(gte,startTime,…)`,
   * tacker/sol_refactored/controller/vnflcm_view.py); v1 is asked for all records and filtered here.
   */
  async listLcmOpOccs(options: { sinceIso?: string } = {}): Promise<LcmOpOccListing> {
    const since = options.sinceIso === undefined ? undefined : checkedSince(options.sinceIso);
    const exchange = this.exchange('GET', '/vnf_lcm_op_occs', '/vnf_lcm_op_occs');
    exchange.url.searchParams.set('all_fields', 'true');
    if (this.apiVersion === 'v1') exchange.url.searchParams.set('all_records', 'yes');
    if (since !== undefined && this.apiVersion === 'v2') exchange.url.searchParams.set('filter', `(gte,startTime,${since})`);
    const items = await this.listAll(exchange);
    return collectOpOccs(items, since);
  }

  async getVnfInstance(id: string): Promise<NormalizedVnfInstance> {
    const exchange = this.exchange('GET', `/vnf_instances/${encodeURIComponent(id)}`, '/vnf_instances/{id}');
    const reply = await this.send(exchange);
    return readAnswer(exchange.context, () => parseVnfInstance(reply.body));
  }

  async listSubscriptions(): Promise<LccnSubscription[]> {
    const exchange = this.exchange('GET', '/subscriptions', '/subscriptions');
    if (this.apiVersion === 'v1') exchange.url.searchParams.set('all_records', 'yes');
    const items = await this.listAll(exchange);
    return readAnswer(exchange.context, () => z.array(lccnSubscriptionSchema).parse(items));
  }

  /**
   * v2 creates a new subscription for every request, duplicates included. v1 answers 303 with the
   * existing subscription's URL when one with the same callbackUri and filter exists
   * (tacker/api/vnflcm/v1/controller.py register_subscription); that one is read and returned.
   */
  async createSubscription(request: LccnSubscriptionRequest): Promise<SubscriptionCreation> {
    const exchange = { ...this.exchange('POST', '/subscriptions', '/subscriptions'), body: request, expect: [201, 303] };
    const reply = await this.send(exchange);
    if (reply.status === 201) return { subscription: readAnswer(exchange.context, () => lccnSubscriptionSchema.parse(reply.body)), created: true };
    const location = this.sameOriginUrl(reply.headers.get('location'), exchange.url, exchange.context);
    const existing = await this.send({ method: 'GET', url: location, context: { operation: `GET ${API_PREFIX[this.apiVersion]}/subscriptions/{id}`, idempotent: true }, expect: [200] });
    return { subscription: readAnswer(exchange.context, () => lccnSubscriptionSchema.parse(existing.body)), created: false };
  }

  /**
   * The subscription that already calls request.callbackUri back, or a new one: running it again
   * (a restart, a second replica, the CLI twice) adds none. Two callers racing may both create one;
   * every consumer of ours drops the duplicate notifications that follows.
   */
  async keepOrCreateSubscription(request: LccnSubscriptionRequest): Promise<SubscriptionCreation> {
    const existing = (await this.listSubscriptions()).find((subscription) => subscription.callbackUri === request.callbackUri);
    return existing === undefined ? this.createSubscription(request) : { subscription: existing, created: false };
  }

  async deleteSubscription(id: string): Promise<void> {
    await this.send({ ...this.exchange('DELETE', `/subscriptions/${encodeURIComponent(id)}`, '/subscriptions/{id}'), expect: [204] });
  }

  /**
   * `POST /vnf_instances`. Not repeated on failure: after a 5xx or a lost answer the instance may
   * exist, so the caller looks for it by name (listVnfInstances with buildEqFilter) before creating again.
   */
  async createVnfInstance(request: CreateVnfRequest): Promise<NormalizedVnfInstance> {
    this.requireV2('createVnfInstance');
    const exchange = { ...this.exchange('POST', '/vnf_instances', '/vnf_instances'), body: request, expect: [201] };
    const reply = await this.send(exchange);
    return readAnswer(exchange.context, () => parseVnfInstance(reply.body));
  }

  /**
   * `GET /vnf_instances` with a SOL 013 filter (buildEqFilter makes one safely), every page, and
   * `all_fields`: lists leave out instantiatedVnfInfo and metadata by default (vnflcm_view.py
   * InstanceViewBuilder `_EXCLUDE_DEFAULT`), which would read as an instance without VNFCs.
   */
  async listVnfInstances(options: { filter?: string } = {}): Promise<NormalizedVnfInstance[]> {
    this.requireV2('listVnfInstances');
    const exchange = this.exchange('GET', '/vnf_instances', '/vnf_instances');
    exchange.url.searchParams.set('all_fields', 'true');
    if (options.filter !== undefined) exchange.url.searchParams.set('filter', options.filter);
    const items = await this.listAll(exchange);
    return readAnswer(exchange.context, () => items.map((item) => parseVnfInstance(item)));
  }

  async instantiateVnf(vnfInstanceId: string, request: InstantiateVnfRequest): Promise<LcmOperationAccepted> {
    return this.startLcmOperation('instantiateVnf', vnfInstanceId, 'instantiate', request);
  }

  async scaleVnf(vnfInstanceId: string, request: ScaleVnfRequest): Promise<LcmOperationAccepted> {
    return this.startLcmOperation('scaleVnf', vnfInstanceId, 'scale', request);
  }

  async terminateVnf(vnfInstanceId: string, request: TerminateVnfRequest): Promise<LcmOperationAccepted> {
    return this.startLcmOperation('terminateVnf', vnfInstanceId, 'terminate', request);
  }

  /**
   * `DELETE /vnf_instances/{id}`; false when Tacker no longer knows the instance, so that teardown
   * can be repeated. Only a JSON answer counts as "gone": a proxy's or router's 404 page is not
   * Tacker saying the instance does not exist.
   */
  async deleteVnfInstance(vnfInstanceId: string): Promise<boolean> {
    this.requireV2('deleteVnfInstance');
    const exchange = this.exchange('DELETE', `/vnf_instances/${encodeURIComponent(vnfInstanceId)}`, '/vnf_instances/{id}');
    const reply = await this.send({ ...exchange, expect: [204, 404], retryableStatuses: [409] });
    if (reply.status === 204) return true;
    if (isRecord(reply.body)) return false;
    throw tackerStatusError(exchange.context, { status: 404, bodyText: '' });
  }

  /**
   * The lifecycle POSTs answer 202 with the occurrence's URL in Location. Only its id is taken: the
   * URL is never requested, so it need not be on this client's origin. Tacker builds it from
   * [v2_vnfm] endpoint, which defaults to http://127.0.0.1:9890 whatever address clients use
   * (tacker/sol_refactored/common/config.py), and refusing it would report a failure for an
   * operation that is already running.
   */
  private async startLcmOperation(name: string, vnfInstanceId: string, task: string, request: object): Promise<LcmOperationAccepted> {
    this.requireV2(name);
    const exchange = this.exchange('POST', `/vnf_instances/${encodeURIComponent(vnfInstanceId)}/${task}`, `/vnf_instances/{id}/${task}`);
    const reply = await this.send({ ...exchange, body: request, expect: [202], retryableStatuses: [409] });
    return { vnfLcmOpOccId: opOccIdFromLocation(reply.headers.get('location'), exchange) };
  }

  /** Tacker's v1 API has the same operations, but this service drives VNFs through v2 only. */
  private requireV2(operation: string): void {
    if (this.apiVersion === 'v2') return;
    throw new AppError('INVALID_CONFIG', `${operation} needs Tacker's v2 API (/vnflcm/v2); this client is configured for v1.`, {
      details: { operation, apiVersion: this.apiVersion },
    });
  }

  private exchange(method: Method, path: string, template: string): Exchange {
    const url = new URL(this.base);
    url.pathname = `${this.prefix}${path}`;
    return { method, url, context: { operation: `${method} ${API_PREFIX[this.apiVersion]}${template}`, idempotent: method !== 'POST' }, expect: [200] };
  }

  /** Follows SOL 013 paging (`Link: <…>; rel="next"`), staying on Tacker's origin: the token must not travel elsewhere. */
  private async listAll(first: Exchange): Promise<unknown[]> {
    const items: unknown[] = [];
    let next: URL | undefined = first.url;
    for (let page = 0; next !== undefined; page += 1) {
      if (page >= this.maxPages) throw tackerAnswerError(first.context, `more than ${this.maxPages} pages`);
      const reply = await this.send({ ...first, url: next });
      if (!Array.isArray(reply.body)) throw tackerAnswerError(first.context, 'the body is not a JSON array');
      items.push(...(reply.body as unknown[]));
      const link = nextLink(reply.headers.get('link'));
      next = link === undefined ? undefined : this.sameOriginUrl(link, next, first.context);
    }
    return items;
  }

  private sameOriginUrl(value: string | null, relativeTo: URL, context: TackerRequestContext): URL {
    if (value === null) throw tackerAnswerError(context, 'a redirect or next-page link without a URL');
    const url = new URL(value, relativeTo);
    if (url.origin !== this.base.origin) throw tackerAnswerError(context, `a link to another origin (${url.origin}) was not followed`);
    return url;
  }

  private async send(exchange: Exchange): Promise<Reply> {
    const headers = await this.headers(exchange.body !== undefined);
    let response: Response;
    let text: string;
    try {
      response = await tracedHttp(exchange.method, exchange.url, (traceHeaders) =>
        fetch(exchange.url, {
          method: exchange.method,
          headers: { ...headers, ...traceHeaders },
          ...(exchange.body === undefined ? {} : { body: JSON.stringify(exchange.body) }),
          // A followed redirect would carry the token wherever it points; v1's 303 is read explicitly.
          redirect: 'manual',
          signal: AbortSignal.timeout(Math.max(1, this.requestTimeoutMs)),
        }),
      );
      text = await readBounded(response);
    } catch (error) {
      throw isAppError(error) ? error : tackerTransportError(exchange.context, error);
    }
    if (!exchange.expect.includes(response.status)) throw this.statusError(exchange, response, text);
    return { status: response.status, headers: response.headers, body: parseBody(text, exchange.context) };
  }

  private statusError(exchange: Exchange, response: Response, text: string): AppError {
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), this.clock.now());
    const error = tackerStatusError(exchange.context, { status: response.status, bodyText: text, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
    if (error.retryable || exchange.retryableStatuses?.includes(response.status) !== true) return error;
    return new AppError(error.code, error.message, { retryable: true, details: error.details, problems: error.problems });
  }

  private async headers(hasBody: boolean): Promise<Record<string, string>> {
    return {
      accept: 'application/json',
      'x-auth-token': await this.currentToken(),
      ...(this.apiVersion === 'v2' ? { version: TACKER_V2_API_VERSION } : {}),
      ...(hasBody ? { 'content-type': 'application/json' } : {}),
    };
  }

  private async currentToken(): Promise<string> {
    try {
      const token = await this.token();
      if (token === '') throw new AppError('CREDENTIALS_UNAVAILABLE', 'The Keystone token provider returned an empty token.', { retryable: true });
      return token;
    } catch (error) {
      if (isAppError(error)) throw error;
      throw new AppError('CREDENTIALS_UNAVAILABLE', 'No Keystone token for Tacker.', { retryable: true, cause: error });
    }
  }
}

function parseBaseUrl(value: string): URL {
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url;
  } catch {
    // reported below
  }
  throw new AppError('INVALID_CONFIG', 'The Tacker endpoint must be an absolute http or https URL.', { details: { baseUrl: value } });
}

function checkedSince(value: string): string {
  const since = normalizeTackerTimestamp(value);
  if (since === undefined) throw new AppError('INVALID_REQUEST', 'sinceIso must be an ISO 8601 time.', { problems: [{ path: 'sinceIso', message: 'must be an ISO 8601 time' }] });
  return since;
}

/** RFC 8288 Link header: the first target whose rel includes "next". */
function nextLink(header: string | null): string | undefined {
  if (header === null) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (match !== null && /;\s*rel\s*=\s*"?([^";]*\s)?next(\s[^";]*)?"?/i.test(match[2] ?? '')) return match[1];
  }
  return undefined;
}

const OP_OCC_PATH = /\/vnflcm\/v2\/vnf_lcm_op_occs\/([^/]+)\/?$/;

function opOccIdFromLocation(location: string | null, exchange: Exchange): string {
  if (location === null) throw tackerAnswerError(exchange.context, '202 Accepted without a Location header');
  let url: URL;
  try {
    url = new URL(location, exchange.url);
  } catch {
    throw tackerAnswerError(exchange.context, 'a Location header that is not a URL');
  }
  const id = OP_OCC_PATH.exec(url.pathname)?.[1];
  if (id === undefined) throw tackerAnswerError(exchange.context, 'a Location header that names no LCM operation occurrence');
  try {
    return decodeURIComponent(id);
  } catch {
    throw tackerAnswerError(exchange.context, 'a Location header with a malformed operation occurrence id');
  }
}

const MAX_PROBLEM_CHARS = 500;

function lcmOpOccProblemOf(error: unknown): LcmOpOccProblem | undefined {
  if (typeof error === 'string') return error === '' ? undefined : { detail: error.slice(0, MAX_PROBLEM_CHARS) };
  if (!isRecord(error)) return undefined;
  const problem: LcmOpOccProblem = {};
  if (typeof error.status === 'number') problem.status = error.status;
  if (typeof error.title === 'string' && error.title !== '') problem.title = error.title.slice(0, MAX_PROBLEM_CHARS);
  if (typeof error.detail === 'string' && error.detail !== '') problem.detail = error.detail.slice(0, MAX_PROBLEM_CHARS);
  return Object.keys(problem).length === 0 ? undefined : problem;
}

function collectOpOccs(items: unknown[], since: string | undefined): LcmOpOccListing {
  const listing: LcmOpOccListing = { opOccs: [], rejected: [] };
  for (const item of items) {
    try {
      const opOcc = parseLcmOpOcc(item);
      if (since === undefined || opOcc.startTime >= since) listing.opOccs.push(opOcc);
    } catch (error) {
      if (!isAppError(error)) throw error;
      const id = isRecord(item) && typeof item.id === 'string' ? item.id : undefined;
      listing.rejected.push({ ...(id === undefined ? {} : { id }), problems: error.problems });
    }
  }
  return listing;
}

function readAnswer<T>(context: TackerRequestContext, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (isAppError(error)) throw tackerAnswerError(context, error.message, error.problems);
    if (error instanceof z.ZodError) throw tackerAnswerError(context, 'the body does not have the published shape', formatZodProblems(error));
    throw error;
  }
}

function parseBody(text: string, context: TackerRequestContext): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw tackerAnswerError(context, 'the body is not JSON');
  }
}

async function readBounded(response: Response): Promise<string> {
  if (response.body === null) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    // Leaving the loop by throwing cancels the stream.
    if (total > MAX_RESPONSE_BYTES) throw new Error(`The response is larger than ${MAX_RESPONSE_BYTES} bytes.`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
