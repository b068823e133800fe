import { generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { TEST_TOKEN_SIGNATURE } from '../test-credentials.js';
import { failure, forbidden, invalid, notFound, StatusError, unauthorized, type ResourceRef } from './kubernetes-status.js';
import { LabelSelectorError, parseLabelSelector } from './label-selector.js';
import { ObjectStore, type PodReadinessTarget, type Target } from './object-store.js';
import { discoveryDocument, findResource, resourceByPlural, type SimResource } from './resource-catalog.js';
import type { KubeObject } from './server-side-apply.js';

/**
 * A kube-apiserver subset for the Kubernetes adapters, over plain HTTP on 127.0.0.1:0: discovery;
 * Namespaces, ServiceAccounts (with TokenRequest), Services, ConfigMaps, Pods (read and delete),
 * apps/v1 Deployments, and the networking.istio.io/v1 and security.istio.io/v1 objects the
 * service writes, each with GET, LIST (label selectors, across namespaces), POST, PUT,
 * server-side apply and DELETE (object-store.ts). Istio objects are validated against
 * ../shared/istio/crds.yaml and refused with 422 Invalid as a CRD's schema would. Errors are
 * `Status` objects as upstream writes them. Bearer tokens map to users with RBAC-like rules, so
 * tests can produce 403.
 */

export const ISTIO_GROUP = 'networking.istio.io';
export const ISTIO_VERSION = 'v1';
const MIN_TOKEN_SECONDS = 600;
const DEFAULT_TOKEN_SECONDS = 3600;
/** Subresources of a Namespace, which are not namespaced resources (k8s.io/apiserver RequestInfo). */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

export type { SimResource } from './resource-catalog.js';

export interface AccessRule {
  /** get, list, create, update, patch, delete. */
  verbs: string[];
  /** Plural resource, with `/subresource` where one is meant: `serviceaccounts/token`. */
  resources: string[];
  /** Namespaces the rule applies in; all, and the cluster scope, when absent (a ClusterRole binding). */
  namespaces?: string[];
  /** As RBAC's resourceNames: only these objects; never matches a request without a name (list, POST create). */
  resourceNames?: string[];
}

export interface FaultSpec {
  method?: string;
  path: RegExp;
  /** An HTTP status answered with a Status object; 'reset' drops the connection, 'hang' never answers. */
  status: number | 'reset' | 'hang';
  times?: number;
  message?: string;
  retryAfterSeconds?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  user: string | undefined;
  /** The parsed body (JSON or YAML), if any. */
  body: unknown;
  status: number;
}

export interface TokenRequestRecord {
  namespace: string;
  serviceAccount: string;
  audiences: string[];
  expirationSeconds: number;
}

export interface KubernetesSimulatorOptions {
  /**
   * Refuse to create objects in namespaces that do not exist (404 `namespaces "x" not found`), as
   * a real cluster does. Off by default: the mesh adapters' tests write into namespaces they never
   * create. `default`, `kube-system`, `kube-public` and `kube-node-lease` always exist.
   */
  requireNamespaces?: boolean;
}

interface SimRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  contentType: string | undefined;
  rawBody: string;
  user: string;
  rules: AccessRule[] | 'all';
}

interface SimAnswer {
  status: number;
  body: unknown;
}

interface ResourceRequest extends Target {
  subresource: string | undefined;
}

export interface KubernetesSimulator {
  readonly url: string;
  /** A token allowed everything (cluster-admin). */
  readonly adminToken: string;
  readonly requests: RecordedRequest[];
  readonly tokenRequests: TokenRequestRecord[];
  /** A kubeconfig document pointing at this server with the given token. */
  kubeconfig(options?: { token?: string; context?: string }): string;
  /** Adds a bearer token for `user` limited to `rules`; returns the token. */
  addUser(user: string, rules: AccessRule[]): string;
  addNamespace(name: string, labels?: Record<string, string>): void;
  addConfigMap(namespace: string, name: string, data: Record<string, string>): void;
  addServiceAccount(namespace: string, name: string): void;
  addService(namespace: string, name: string, spec: Record<string, unknown>, status?: Record<string, unknown>): void;
  failNext(fault: FaultSpec): void;
  /** Pods of the matching Deployments (every one when no target) report Ready as given, existing ones and those created later; the last call that matches wins. */
  setPodsReady(isReady: boolean, target?: PodReadinessTarget): void;
  /** setPodsReady(false, …): the Pods stay not ready, as with a failing readiness probe. */
  holdPods(namespace?: string, deployment?: string): void;
  /** Stored objects of one plural resource in one namespace ('' for cluster-scoped ones, or for all namespaces), as the server holds them. */
  objects(resource: SimResource, namespace: string): KubeObject[];
  object(resource: SimResource, namespace: string, name: string): KubeObject | undefined;
  /** Writes status the way a controller does (status subresource): no spec change, new resourceVersion. */
  setStatus(resource: SimResource, namespace: string, name: string, status: Record<string, unknown>): void;
  /** The claims of a token this server minted, after checking its RS256 signature; undefined otherwise. */
  verifyToken(token: string): Record<string, unknown> | undefined;
  close(): Promise<void>;
}

export async function startKubernetesSimulator(options: KubernetesSimulatorOptions = {}): Promise<KubernetesSimulator> {
  const state = new SimulatorState(new ObjectStore(options.requireNamespaces ?? false));
  const server = createServer((request, response) => {
    void state.handle(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state.facade(server);
}

function coreObject(kind: string, meta: { namespace?: string; name: string; labels?: Record<string, string> }, fields: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'v1', kind, metadata: { ...meta }, ...fields };
}

class SimulatorState {
  url = '';
  readonly adminToken = `admin-${randomUUID()}`;
  readonly requests: RecordedRequest[] = [];
  readonly tokenRequests: TokenRequestRecord[] = [];
  private readonly users = new Map<string, { user: string; rules: AccessRule[] | 'all' }>([[this.adminToken, { user: 'kubernetes-admin', rules: 'all' }]]);
  private readonly faults: (FaultSpec & { remaining: number })[] = [];
  private readonly keys: { privateKey: KeyObject; publicKey: KeyObject } = generateKeyPairSync('rsa', { modulusLength: 2048 });

  constructor(private readonly store: ObjectStore) {}

  facade(server: Server): KubernetesSimulator {
    const target = (resource: SimResource, namespace: string, name: string): Target => ({ resource: resourceByPlural(resource), namespace, name });
    return {
      url: this.url,
      adminToken: this.adminToken,
      requests: this.requests,
      tokenRequests: this.tokenRequests,
      kubeconfig: (options) => this.kubeconfig(options),
      addUser: (user, rules) => {
        const token = `user-${randomUUID()}`;
        this.users.set(token, { user, rules });
        return token;
      },
      addNamespace: (name, labels) => this.store.put(resourceByPlural('namespaces'), coreObject('Namespace', { name, ...(labels === undefined ? {} : { labels }) })),
      addConfigMap: (namespace, name, data) => this.store.put(resourceByPlural('configmaps'), coreObject('ConfigMap', { namespace, name }, { data })),
      addServiceAccount: (namespace, name) => this.store.put(resourceByPlural('serviceaccounts'), coreObject('ServiceAccount', { namespace, name })),
      addService: (namespace, name, spec, status = {}) => this.store.put(resourceByPlural('services'), coreObject('Service', { namespace, name }, { spec, status })),
      failNext: (fault) => this.faults.push({ ...fault, remaining: fault.times ?? 1 }),
      setPodsReady: (isReady, selected) => this.store.setPodsReady(isReady, selected),
      holdPods: (namespace, deployment) =>
        this.store.setPodsReady(false, { ...(namespace === undefined ? {} : { namespace }), ...(deployment === undefined ? {} : { deployment }) }),
      objects: (resource, namespace) => this.store.objects(resourceByPlural(resource), namespace),
      object: (resource, namespace, name) => this.store.find(resourceByPlural(resource), namespace, name),
      setStatus: (resource, namespace, name, status) => this.store.setStatus(target(resource, namespace, name), status),
      verifyToken: (token) => this.verifyToken(token),
      close: () => new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    };
  }

  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const url = new URL(request.url ?? '/', 'http://localhost');
    const record: RecordedRequest = {
      method: request.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType: request.headers['content-type']?.split(';')[0]?.trim(),
      user: undefined,
      body: undefined,
      status: 0,
    };
    this.requests.push(record);
    const fault = this.takeFault(record.method, url.pathname);
    if (fault?.status === 'reset' || fault?.status === 'hang') {
      record.status = -1;
      if (fault.status === 'reset') request.socket.destroy();
      return;
    }
    const answer = fault === undefined ? this.answer(request, url, Buffer.concat(chunks).toString('utf8'), record) : this.faultAnswer(fault);
    record.status = answer.status;
    const payload = JSON.stringify(answer.body);
    const headers: Record<string, string> = { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(payload)) };
    if (fault?.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds);
    response.writeHead(answer.status, headers).end(payload);
  }

  private takeFault(method: string, path: string): (FaultSpec & { remaining: number }) | undefined {
    const fault = this.faults.find((candidate) => (candidate.method ?? method) === method && candidate.path.test(path));
    if (fault === undefined) return undefined;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.faults.splice(this.faults.indexOf(fault), 1);
    return fault;
  }

  private faultAnswer(fault: FaultSpec): SimAnswer {
    const status = fault.status as number;
    const reasons: Record<number, string> = { 409: 'Conflict', 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout' };
    return { status, body: failure(status, reasons[status] ?? 'Unknown', fault.message ?? `injected fault: HTTP ${status}`) };
  }

  private answer(request: IncomingMessage, url: URL, rawBody: string, record: RecordedRequest): SimAnswer {
    const auth = this.authenticate(request.headers.authorization);
    if (auth === undefined) return { status: 401, body: unauthorized() };
    record.user = auth.user;
    const simRequest: SimRequest = {
      method: record.method,
      path: url.pathname.replace(/\/+$/, '') || '/',
      query: url.searchParams,
      contentType: record.contentType,
      rawBody,
      ...auth,
    };
    try {
      record.body = parseBody(simRequest);
      return this.route(simRequest, record.body);
    } catch (error) {
      if (error instanceof StatusError) return { status: error.status.code, body: error.status };
      const message = error instanceof Error ? error.message : String(error);
      return { status: 500, body: failure(500, 'InternalError', message) };
    }
  }

  private authenticate(header: string | undefined): { user: string; rules: AccessRule[] | 'all' } | undefined {
    const match = /^Bearer (\S+)$/.exec(header ?? '');
    return match === null ? undefined : this.users.get(match[1] as string);
  }

  private route(request: SimRequest, body: unknown): SimAnswer {
    if (request.path === SELF_SUBJECT_ACCESS_REVIEWS) return this.selfSubjectAccessReview(request, body);
    const discovery = request.method === 'GET' ? discoveryDocument(request.path) : undefined;
    if (discovery !== undefined) return { status: 200, body: discovery };
    const target = resolvePath(request.path);
    if (target === undefined) throw new StatusError(failure(404, 'NotFound', 'the server could not find the requested resource'));
    if (target.subresource !== undefined) return this.subresource(request, target, body);
    if (target.name === '') return this.collection(request, target, body);
    return this.item(request, target, body);
  }

  private subresource(request: SimRequest, target: ResourceRequest, body: unknown): SimAnswer {
    if (target.resource.plural !== 'serviceaccounts' || target.subresource !== 'token') throw new StatusError(failure(404, 'NotFound', 'the server could not find the requested resource'));
    if (request.method !== 'POST') throw methodNotAllowed(request);
    this.authorize(request, 'create', target);
    return this.tokenRequest(target.namespace, target.name, body);
  }

  private collection(request: SimRequest, target: ResourceRequest, body: unknown): SimAnswer {
    if (request.method === 'GET') {
      this.authorize(request, 'list', target);
      return { status: 200, body: this.store.list(target, selectorOf(request)) };
    }
    if (request.method !== 'POST') throw methodNotAllowed(request);
    // A create into every namespace at once is not a thing: POST needs the namespace in the URL.
    if (target.resource.namespaced && target.namespace === '') throw methodNotAllowed(request);
    this.allowVerb(request, target, 'create');
    this.authorize(request, 'create', target);
    return { status: 201, body: this.store.create(target, body, fieldManagerOf(request)) };
  }

  private item(request: SimRequest, target: ResourceRequest, body: unknown): SimAnswer {
    switch (request.method) {
      case 'GET':
        this.authorize(request, 'get', target);
        return { status: 200, body: this.store.get(target) };
      case 'PUT':
        this.allowVerb(request, target, 'update');
        this.authorize(request, 'update', target);
        return { status: 200, body: this.store.replace(target, body, fieldManagerOf(request)) };
      case 'PATCH':
        this.allowVerb(request, target, 'patch');
        this.authorize(request, 'patch', target);
        return this.apply(request, target, body);
      case 'DELETE': {
        this.authorize(request, 'delete', target);
        const options = body as { propagationPolicy?: unknown } | undefined;
        const policy = request.query.get('propagationPolicy') ?? (typeof options?.propagationPolicy === 'string' ? options.propagationPolicy : undefined);
        return { status: 200, body: this.store.delete(target, policy) };
      }
      default:
        throw methodNotAllowed(request);
    }
  }

  private apply(request: SimRequest, target: ResourceRequest, body: unknown): SimAnswer {
    if (request.contentType !== 'application/apply-patch+yaml') {
      throw new StatusError(failure(415, 'UnsupportedMediaType', `the simulator supports only server-side apply, not ${request.contentType ?? 'no content type'}`));
    }
    const manager = request.query.get('fieldManager');
    if (manager === null || manager === '') {
      throw new StatusError(failure(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'));
    }
    const result = this.store.apply(target, body, {
      manager,
      force: request.query.get('force') === 'true',
      // An apply that creates is also authorized as create (apiserver endpoints/handlers/patch.go, createAuthorizerAttributes).
      authorizeCreate: () => this.authorize(request, 'create', target),
    });
    return { status: result.created ? 201 : 200, body: result.object };
  }

  /** Pods are written by the Deployment controller only: create, update and patch are not served. */
  private allowVerb(request: SimRequest, target: ResourceRequest, verb: string): void {
    if (!target.resource.verbs.includes(verb)) throw methodNotAllowed(request);
  }

  /**
   * RBAC's view of a request (k8s.io/apiserver RequestInfo): the namespace is the URL's, so a list
   * across all namespaces, or a create of a Namespace, is at the cluster scope, while a request for
   * one Namespace carries that namespace's name.
   */
  private authorize(request: SimRequest, verb: string, target: ResourceRequest): void {
    const { resource } = target;
    const plural = target.subresource === undefined ? resource.plural : `${resource.plural}/${target.subresource}`;
    const namespace = resource.plural === 'namespaces' ? target.name : target.namespace;
    if (isAllowed(request.rules, { verb, plural, namespace, name: target.name })) return;
    const ref: ResourceRef & { subresource?: string } = {
      group: resource.group,
      resource: resource.plural,
      name: target.name,
      ...(target.subresource === undefined ? {} : { subresource: target.subresource }),
    };
    throw new StatusError(forbidden({ user: request.user, verb, ref, namespace }));
  }

  /**
   * SelfSubjectAccessReview (authorization.k8s.io/v1): any authenticated user may ask what it may
   * do (system:basic-user); the answer echoes the spec with status.allowed, as upstream's
   * registry/authorization/selfsubjectaccessreview does. API groups are not part of the
   * simulator's rules, so the group is accepted and not compared.
   */
  private selfSubjectAccessReview(request: SimRequest, body: unknown): SimAnswer {
    if (request.method !== 'POST') throw methodNotAllowed(request);
    const review = (body ?? {}) as { spec?: { resourceAttributes?: Record<string, unknown>; nonResourceAttributes?: unknown } };
    const attributes = review.spec?.resourceAttributes;
    if (attributes === undefined) {
      const ref = { group: 'authorization.k8s.io', resource: 'selfsubjectaccessreviews', name: '', kind: 'SelfSubjectAccessReview' };
      throw new StatusError(invalid(ref, [{ field: 'spec.resourceAttributes', message: 'Required value: resourceAttributes or nonResourceAttributes is required' }]));
    }
    const text = (key: string): string => (typeof attributes[key] === 'string' ? (attributes[key]) : '');
    const plural = text('subresource') === '' ? text('resource') : `${text('resource')}/${text('subresource')}`;
    const allowed = isAllowed(request.rules, { verb: text('verb'), plural, namespace: text('namespace'), name: text('name') });
    return {
      status: 201,
      body: {
        kind: 'SelfSubjectAccessReview',
        apiVersion: 'authorization.k8s.io/v1',
        metadata: { creationTimestamp: null },
        spec: review.spec,
        status: allowed ? { allowed: true, reason: 'RBAC: allowed by the simulator\'s rules' } : { allowed: false },
      },
    };
  }

  private tokenRequest(namespace: string, serviceAccount: string, body: unknown): SimAnswer {
    const ref = { group: '', resource: 'serviceaccounts', name: serviceAccount };
    if (!this.store.hasServiceAccount(namespace, serviceAccount)) throw new StatusError(notFound(ref));
    const spec = ((body as { spec?: unknown } | undefined)?.spec ?? {}) as { audiences?: unknown; expirationSeconds?: unknown };
    const expirationSeconds = typeof spec.expirationSeconds === 'number' ? spec.expirationSeconds : DEFAULT_TOKEN_SECONDS;
    if (expirationSeconds < MIN_TOKEN_SECONDS) {
      throw new StatusError(
        invalid({ ...ref, group: 'authentication.k8s.io', kind: 'TokenRequest' }, [
          { field: 'spec.expirationSeconds', message: `Invalid value: ${expirationSeconds}: may not specify a duration less than 10 minutes` },
        ]),
      );
    }
    const audiences = Array.isArray(spec.audiences) && spec.audiences.length > 0 ? spec.audiences.map(String) : ['https://kubernetes.default.svc.cluster.local'];
    this.tokenRequests.push({ namespace, serviceAccount, audiences, expirationSeconds });
    const now = Math.floor(Date.now() / 1000);
    const token = this.mintToken({ namespace, serviceAccount, audiences, now, expiresAt: now + expirationSeconds });
    return {
      status: 201,
      body: {
        kind: 'TokenRequest',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { name: serviceAccount, namespace, creationTimestamp: null },
        spec: { audiences, expirationSeconds, boundObjectRef: null },
        status: { token, expirationTimestamp: new Date((now + expirationSeconds) * 1000).toISOString().replace(/\.\d+Z$/, 'Z') },
      },
    };
  }

  /**
   * An RS256 JWT shaped like kube-apiserver's. A claim carries TEST_TOKEN_SIGNATURE at a 3-byte
   * boundary of the payload, so the base64url token text contains TEST_TOKEN_MARKER and the suite's
   * run-log leak check recognises these tokens like every other test token.
   */
  private mintToken(input: { namespace: string; serviceAccount: string; audiences: string[]; now: number; expiresAt: number }): string {
    const claims: Record<string, unknown> = {
      aud: input.audiences,
      exp: input.expiresAt,
      iat: input.now,
      iss: 'https://kubernetes.default.svc.cluster.local',
      'kubernetes.io': { namespace: input.namespace, serviceaccount: { name: input.serviceAccount, uid: randomUUID() } },
      nbf: input.now,
      sub: `system:serviceaccount:${input.namespace}:${input.serviceAccount}`,
    };
    const prefix = JSON.stringify(claims).slice(0, -1);
    const opening = `${prefix},"vmsi.dev/leak-marker":"`;
    const padding = '_'.repeat((3 - (Buffer.byteLength(opening) % 3)) % 3);
    const payload = `${opening}${padding}${TEST_TOKEN_SIGNATURE}"}`;
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'k8s-sim' })).toString('base64url');
    const signingInput = `${header}.${Buffer.from(payload).toString('base64url')}`;
    return `${signingInput}.${sign('sha256', Buffer.from(signingInput), this.keys.privateKey).toString('base64url')}`;
  }

  private verifyToken(token: string): Record<string, unknown> | undefined {
    const [header, payload, signature] = token.split('.');
    if (header === undefined || payload === undefined || signature === undefined) return undefined;
    const isValid = verify('sha256', Buffer.from(`${header}.${payload}`), this.keys.publicKey, Buffer.from(signature, 'base64url'));
    return isValid ? (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>) : undefined;
  }

  private kubeconfig(options: { token?: string; context?: string } = {}): string {
    const context = options.context ?? 'k8s-sim';
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      // client-node refuses a plain http:// server unless TLS verification is explicitly off.
      clusters: [{ name: 'k8s-sim', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'k8s-sim-user', user: { token: options.token ?? this.adminToken } }],
      contexts: [{ name: context, context: { cluster: 'k8s-sim', user: 'k8s-sim-user' } }],
      'current-context': context,
    });
  }
}

const SELF_SUBJECT_ACCESS_REVIEWS = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';

interface AccessAttributes {
  verb: string;
  plural: string;
  namespace: string;
  name: string;
}

function isAllowed(rules: AccessRule[] | 'all', attributes: AccessAttributes): boolean {
  const { verb, plural, namespace, name } = attributes;
  return (
    rules === 'all' ||
    rules.some(
      (rule) =>
        rule.verbs.includes(verb) &&
        rule.resources.includes(plural) &&
        (rule.namespaces === undefined || (namespace !== '' && rule.namespaces.includes(namespace))) &&
        (rule.resourceNames === undefined || (name !== '' && rule.resourceNames.includes(name))),
    )
  );
}

function parseBody(request: SimRequest): unknown {
  if (request.rawBody.trim() === '') return undefined;
  try {
    return request.contentType === 'application/apply-patch+yaml' ? (parseYaml(request.rawBody) as unknown) : (JSON.parse(request.rawBody) as unknown);
  } catch (error) {
    throw new StatusError(failure(400, 'BadRequest', `the body cannot be decoded: ${(error as Error).message}`));
  }
}

function methodNotAllowed(request: SimRequest): StatusError {
  return new StatusError(failure(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource (${request.method} ${request.path})`));
}

/** The resource a URL names: `/api/v1[/namespaces/{ns}]/{plural}[/{name}[/{sub}]]`, likewise under `/apis/{group}/{version}`. */
function resolvePath(path: string): ResourceRequest | undefined {
  const match = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/(.+)$/.exec(path);
  if (match === null) return undefined;
  const group = match[2] ?? '';
  const version = match[1] ?? match[3] ?? '';
  let parts = (match[4] as string).split('/').map(decodeURIComponent);
  let namespace = '';
  if (parts[0] === 'namespaces' && parts.length >= 3 && !NAMESPACE_SUBRESOURCES.has(parts[2] as string)) {
    namespace = parts[1] as string;
    parts = parts.slice(2);
  }
  if (parts.length > 3) return undefined;
  const resource = findResource(group, version, parts[0] as string);
  if (resource === undefined) return undefined;
  const isNamed = parts[1] !== undefined;
  // A cluster-scoped resource has no namespaced URL, and a namespaced object is only reached through its namespace.
  if (!resource.namespaced && namespace !== '') return undefined;
  if (resource.namespaced && namespace === '' && isNamed) return undefined;
  return { resource, namespace, name: parts[1] ?? '', subresource: parts[2] };
}

function selectorOf(request: SimRequest): ReturnType<typeof parseLabelSelector> {
  try {
    return parseLabelSelector(request.query.get('labelSelector') ?? '');
  } catch (error) {
    if (!(error instanceof LabelSelectorError)) throw error;
    throw new StatusError(failure(400, 'BadRequest', `unable to parse requirement: ${error.message}`));
  }
}

function fieldManagerOf(request: SimRequest): string {
  return request.query.get('fieldManager') ?? 'unknown';
}
