import { generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { validateIstioObject } from '../istio-crd-validator.js';
import { TEST_TOKEN_SIGNATURE } from '../test-credentials.js';
import {
  alreadyExists,
  failure,
  forbidden,
  invalid,
  notFound,
  staleUpdate,
  unauthorized,
  type KubernetesStatus,
  type ResourceRef,
} from './kubernetes-status.js';
import {
  describePath,
  recordUpdate,
  renderManagedFields,
  serverSideApply,
  type KubeObject,
  type Ownership,
} from './server-side-apply.js';

/**
 * A kube-apiserver subset for the Kubernetes adapters, over plain HTTP on 127.0.0.1:0: discovery,
 * ConfigMaps and Services (GET), ServiceAccount TokenRequest, and networking.istio.io/v1
 * WorkloadGroup/WorkloadEntry CRUD with resourceVersion checks and server-side apply. Every
 * WorkloadGroup/WorkloadEntry it is sent is validated against ../shared/istio/crds.yaml and
 * refused with 422 Invalid as a CRD's schema would. Errors are `Status` objects as upstream
 * writes them. Bearer tokens map to users with RBAC-like rules, so tests can produce 403.
 */

export const ISTIO_GROUP = 'networking.istio.io';
export const ISTIO_VERSION = 'v1';
const ISTIO_KINDS: Record<string, string> = { workloadentries: 'WorkloadEntry', workloadgroups: 'WorkloadGroup' };
const SHORT_NAMES: Record<string, string[]> = { workloadentries: ['we'], workloadgroups: ['wg'] };
const MIN_TOKEN_SECONDS = 600;
const DEFAULT_TOKEN_SECONDS = 3600;
const SERVER_METADATA = ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields'];

export interface AccessRule {
  /** get, list, create, update, patch, delete. */
  verbs: string[];
  /** Plural resource, with `/subresource` where one is meant: `serviceaccounts/token`. */
  resources: string[];
  /** Namespaces the rule applies in; all when absent (a ClusterRole binding). */
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

interface StoredObject {
  object: KubeObject;
  owners: Ownership[];
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

class StatusError extends Error {
  constructor(readonly status: KubernetesStatus) {
    super(status.message);
  }
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
  addConfigMap(namespace: string, name: string, data: Record<string, string>): void;
  addServiceAccount(namespace: string, name: string): void;
  addService(namespace: string, name: string, spec: Record<string, unknown>, status?: Record<string, unknown>): void;
  failNext(fault: FaultSpec): void;
  /** Stored Istio objects of one plural resource in one namespace, as the server holds them. */
  objects(resource: 'workloadentries' | 'workloadgroups', namespace: string): KubeObject[];
  object(resource: 'workloadentries' | 'workloadgroups', namespace: string, name: string): KubeObject | undefined;
  /** Writes status the way istiod does (status subresource): no spec change, new resourceVersion. */
  setStatus(resource: 'workloadentries' | 'workloadgroups', namespace: string, name: string, status: Record<string, unknown>): void;
  /** The claims of a token this server minted, after checking its RS256 signature; undefined otherwise. */
  verifyToken(token: string): Record<string, unknown> | undefined;
  close(): Promise<void>;
}

export async function startKubernetesSimulator(): Promise<KubernetesSimulator> {
  const state = new SimulatorState();
  const server = createServer((request, response) => {
    void state.handle(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state.facade(server);
}

class SimulatorState {
  url = '';
  readonly adminToken = `admin-${randomUUID()}`;
  readonly requests: RecordedRequest[] = [];
  readonly tokenRequests: TokenRequestRecord[] = [];
  private readonly users = new Map<string, { user: string; rules: AccessRule[] | 'all' }>([[this.adminToken, { user: 'kubernetes-admin', rules: 'all' }]]);
  private readonly configMaps = new Map<string, Record<string, unknown>>();
  private readonly services = new Map<string, Record<string, unknown>>();
  private readonly serviceAccounts = new Set<string>();
  private readonly store = new Map<string, StoredObject>();
  private readonly faults: (FaultSpec & { remaining: number })[] = [];
  private readonly keys: { privateKey: KeyObject; publicKey: KeyObject } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  private resourceVersion = 1000;

  facade(server: Server): KubernetesSimulator {
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
      addConfigMap: (namespace, name, data) => this.configMaps.set(`${namespace}/${name}`, this.coreObject('ConfigMap', { namespace, name }, { data })),
      addServiceAccount: (namespace, name) => this.serviceAccounts.add(`${namespace}/${name}`),
      addService: (namespace, name, spec, status = {}) => this.services.set(`${namespace}/${name}`, this.coreObject('Service', { namespace, name }, { spec, status })),
      failNext: (fault) => this.faults.push({ ...fault, remaining: fault.times ?? 1 }),
      objects: (resource, namespace) =>
        [...this.store.entries()].filter(([key]) => key.startsWith(`${resource}/${namespace}/`)).map(([, stored]) => this.render(stored)),
      object: (resource, namespace, name) => {
        const stored = this.store.get(`${resource}/${namespace}/${name}`);
        return stored === undefined ? undefined : this.render(stored);
      },
      setStatus: (resource, namespace, name, status) => {
        const stored = this.store.get(`${resource}/${namespace}/${name}`);
        if (stored === undefined) throw new Error(`no ${resource} ${namespace}/${name}`);
        stored.object.status = structuredClone(status);
        stored.object.metadata.resourceVersion = this.nextResourceVersion();
      },
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
    const discovery = this.discovery(request.path);
    if (discovery !== undefined) return { status: 200, body: discovery };
    const core = /^\/api\/v1\/namespaces\/([^/]+)\/(configmaps|services|serviceaccounts)\/([^/]+)(?:\/(token))?$/.exec(request.path);
    if (core !== null) return this.core(request, { namespace: core[1] as string, resource: core[2] as string, name: core[3] as string, subresource: core[4] }, body);
    const istio = /^\/apis\/networking\.istio\.io\/v1\/namespaces\/([^/]+)\/(workloadentries|workloadgroups)(?:\/([^/]+))?$/.exec(request.path);
    if (istio !== null) return this.istio(request, { namespace: istio[1] as string, resource: istio[2] as string, name: istio[3] ?? '' }, body);
    throw new StatusError(failure(404, 'NotFound', 'the server could not find the requested resource'));
  }

  private authorize(request: SimRequest, verb: string, target: ResourceRef & { namespace: string; subresource?: string }): void {
    const resource = target.subresource === undefined ? target.resource : `${target.resource}/${target.subresource}`;
    const allowed =
      request.rules === 'all' ||
      request.rules.some(
        (rule) =>
          rule.verbs.includes(verb) &&
          rule.resources.includes(resource) &&
          (rule.namespaces === undefined || rule.namespaces.includes(target.namespace)) &&
          (rule.resourceNames === undefined || (target.name !== '' && rule.resourceNames.includes(target.name))),
      );
    if (!allowed) throw new StatusError(forbidden({ user: request.user, verb, ref: target, namespace: target.namespace }));
  }

  private discovery(path: string): unknown {
    const documents: Record<string, unknown> = {
      '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] },
      '/api/v1': {
        kind: 'APIResourceList',
        groupVersion: 'v1',
        resources: [
          { name: 'configmaps', singularName: 'configmap', namespaced: true, kind: 'ConfigMap', verbs: ['get'], shortNames: ['cm'] },
          { name: 'serviceaccounts', singularName: 'serviceaccount', namespaced: true, kind: 'ServiceAccount', verbs: [] },
          { name: 'serviceaccounts/token', singularName: '', namespaced: true, group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest', verbs: ['create'] },
          { name: 'services', singularName: 'service', namespaced: true, kind: 'Service', verbs: ['get'], shortNames: ['svc'] },
        ],
      },
      '/apis': {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: [{ name: ISTIO_GROUP, versions: [{ groupVersion: `${ISTIO_GROUP}/${ISTIO_VERSION}`, version: ISTIO_VERSION }], preferredVersion: { groupVersion: `${ISTIO_GROUP}/${ISTIO_VERSION}`, version: ISTIO_VERSION } }],
      },
      [`/apis/${ISTIO_GROUP}/${ISTIO_VERSION}`]: {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: `${ISTIO_GROUP}/${ISTIO_VERSION}`,
        resources: Object.entries(ISTIO_KINDS).flatMap(([name, kind]) => [
          { name, singularName: kind.toLowerCase(), namespaced: true, kind, verbs: ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'], shortNames: SHORT_NAMES[name], categories: ['istio-io', 'networking-istio-io'] },
          { name: `${name}/status`, singularName: '', namespaced: true, kind, verbs: ['get', 'patch', 'update'] },
        ]),
      },
    };
    return documents[path];
  }

  private core(request: SimRequest, target: { namespace: string; resource: string; name: string; subresource: string | undefined }, body: unknown): SimAnswer {
    const ref = { group: '', resource: target.resource, name: target.name, namespace: target.namespace };
    if (target.subresource === 'token') {
      if (request.method !== 'POST') throw methodNotAllowed(request);
      this.authorize(request, 'create', { ...ref, subresource: 'token' });
      return this.tokenRequest(target.namespace, target.name, body);
    }
    if (request.method !== 'GET' || target.resource === 'serviceaccounts') throw methodNotAllowed(request);
    this.authorize(request, 'get', ref);
    const found = (target.resource === 'configmaps' ? this.configMaps : this.services).get(`${target.namespace}/${target.name}`);
    if (found === undefined) throw new StatusError(notFound(ref));
    return { status: 200, body: found };
  }

  private tokenRequest(namespace: string, serviceAccount: string, body: unknown): SimAnswer {
    const ref = { group: '', resource: 'serviceaccounts', name: serviceAccount };
    if (!this.serviceAccounts.has(`${namespace}/${serviceAccount}`)) throw new StatusError(notFound(ref));
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

  private istio(request: SimRequest, target: { namespace: string; resource: string; name: string }, body: unknown): SimAnswer {
    const ref = { group: ISTIO_GROUP, resource: target.resource, name: target.name, namespace: target.namespace };
    const key = `${target.resource}/${target.namespace}/${target.name}`;
    if (target.name === '') return this.collection(request, ref, body);
    switch (request.method) {
      case 'GET':
        this.authorize(request, 'get', ref);
        return { status: 200, body: this.render(this.existing(key, ref)) };
      case 'PUT':
        this.authorize(request, 'update', ref);
        return this.replace(request, ref, body);
      case 'PATCH':
        this.authorize(request, 'patch', ref);
        return this.apply(request, ref, body);
      case 'DELETE': {
        this.authorize(request, 'delete', ref);
        const stored = this.existing(key, ref);
        this.store.delete(key);
        return { status: 200, body: this.render(stored) };
      }
      default:
        throw methodNotAllowed(request);
    }
  }

  private collection(request: SimRequest, ref: ResourceRef & { namespace: string }, body: unknown): SimAnswer {
    const kind = ISTIO_KINDS[ref.resource] as string;
    if (request.method === 'GET') {
      this.authorize(request, 'list', ref);
      const items = [...this.store.entries()].filter(([key]) => key.startsWith(`${ref.resource}/${ref.namespace}/`)).map(([, stored]) => this.render(stored));
      return { status: 200, body: { apiVersion: `${ISTIO_GROUP}/${ISTIO_VERSION}`, kind: `${kind}List`, metadata: { resourceVersion: String(this.resourceVersion) }, items } };
    }
    if (request.method !== 'POST') throw methodNotAllowed(request);
    this.authorize(request, 'create', ref);
    const object = this.received(body, ref);
    const named = { ...ref, name: String(object.metadata.name) };
    const key = `${ref.resource}/${ref.namespace}/${named.name}`;
    if (this.store.has(key)) throw new StatusError(alreadyExists(named));
    const created = this.withServerMetadata(object, undefined);
    const owners = recordUpdate(undefined, created, [], this.updateOwner(request, object));
    this.store.set(key, { object: created, owners });
    return { status: 201, body: this.render({ object: created, owners }) };
  }

  private replace(request: SimRequest, ref: ResourceRef & { namespace: string }, body: unknown): SimAnswer {
    const key = `${ref.resource}/${ref.namespace}/${ref.name}`;
    const stored = this.existing(key, ref);
    const object = this.received(body, ref);
    const given = object.metadata.resourceVersion;
    if (given === undefined || given === '') {
      throw new StatusError(invalid({ ...ref, kind: ISTIO_KINDS[ref.resource] as string }, [{ field: 'metadata.resourceVersion', message: 'Invalid value: 0x0: must be specified for an update' }]));
    }
    if (given !== stored.object.metadata.resourceVersion) throw new StatusError(staleUpdate(ref));
    const updated = this.withServerMetadata(object, stored.object);
    stored.owners = recordUpdate(stored.object, updated, stored.owners, this.updateOwner(request, object));
    stored.object = updated;
    return { status: 200, body: this.render(stored) };
  }

  private apply(request: SimRequest, ref: ResourceRef & { namespace: string }, body: unknown): SimAnswer {
    if (request.contentType !== 'application/apply-patch+yaml') {
      throw new StatusError(failure(415, 'UnsupportedMediaType', `the simulator supports only server-side apply, not ${request.contentType ?? 'no content type'}`));
    }
    const manager = request.query.get('fieldManager');
    if (manager === null || manager === '') {
      throw new StatusError(failure(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'));
    }
    // The apply configuration may be partial; the API server validates the merged result (below).
    const applied = this.received(body, ref, { isPartial: true });
    const key = `${ref.resource}/${ref.namespace}/${ref.name}`;
    const stored = this.store.get(key);
    // An apply that creates is also authorized as create (apiserver endpoints/handlers/patch.go, createAuthorizerAttributes).
    if (stored === undefined) this.authorize(request, 'create', ref);
    const result = serverSideApply({
      current: stored?.object,
      owners: stored?.owners ?? [],
      applied,
      manager,
      force: request.query.get('force') === 'true',
      time: timestamp(),
    });
    if (result.kind === 'conflict') {
      const lines = result.conflicts.map((conflict) => `conflict with "${conflict.manager}": ${describePath(conflict.path)}`);
      throw new StatusError(
        failure(409, 'Conflict', `Apply failed with ${lines.length} conflict${lines.length === 1 ? '' : 's'}: ${lines.join('\n')}`, {
          causes: result.conflicts.map((conflict) => ({ reason: 'FieldManagerConflict', message: `conflict with "${conflict.manager}"`, field: describePath(conflict.path) })),
        }),
      );
    }
    const problems = validateIstioObject(withoutServerFields(result.object));
    if (problems.length > 0) throw new StatusError(invalid({ ...ref, kind: ISTIO_KINDS[ref.resource] as string }, problems.map((message) => ({ message }))));
    if (stored !== undefined && !result.changed) return { status: 200, body: this.render(stored) };
    const object = this.withServerMetadata(result.object, stored?.object);
    this.store.set(key, { object, owners: result.owners });
    return { status: stored === undefined ? 201 : 200, body: this.render({ object, owners: result.owners }) };
  }

  /** The object of a write, checked the way the CRD's schema and the URL demand. */
  private received(body: unknown, ref: ResourceRef & { namespace: string }, options: { isPartial?: boolean } = {}): KubeObject {
    const kind = ISTIO_KINDS[ref.resource] as string;
    const object = structuredClone(body) as KubeObject | undefined;
    if (object === undefined || typeof object !== 'object' || typeof object.metadata !== 'object' || object.metadata === null) {
      throw new StatusError(failure(400, 'BadRequest', 'the request body must be an object with metadata'));
    }
    if (object.apiVersion !== `${ISTIO_GROUP}/${ISTIO_VERSION}` || object.kind !== kind) {
      throw new StatusError(failure(400, 'BadRequest', `the body is a ${String(object.kind)} of ${String(object.apiVersion)}, not a ${kind} of ${ISTIO_GROUP}/${ISTIO_VERSION}`));
    }
    object.metadata.namespace ??= ref.namespace;
    if (object.metadata.namespace !== ref.namespace) {
      throw new StatusError(failure(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'));
    }
    if (ref.name !== '' && object.metadata.name !== ref.name) {
      throw new StatusError(failure(400, 'BadRequest', 'the name of the object does not match the name on the URL'));
    }
    delete object.status;
    const problems = options.isPartial === true ? [] : validateIstioObject(withoutServerFields(object));
    if (problems.length > 0) {
      throw new StatusError(invalid({ ...ref, name: String(object.metadata.name), kind }, problems.map((message) => ({ message }))));
    }
    return object;
  }

  private existing(key: string, ref: ResourceRef): StoredObject {
    const stored = this.store.get(key);
    if (stored === undefined) throw new StatusError(notFound(ref));
    return stored;
  }

  private withServerMetadata(object: KubeObject, previous: KubeObject | undefined): KubeObject {
    const metadata = { ...object.metadata };
    for (const field of SERVER_METADATA) delete metadata[field];
    const generation = (previous?.metadata.generation as number | undefined) ?? 0;
    const isSpecChanged = previous === undefined || JSON.stringify(previous.spec) !== JSON.stringify(object.spec);
    return {
      ...object,
      ...(previous?.status === undefined ? {} : { status: previous.status }),
      metadata: {
        ...metadata,
        uid: (previous?.metadata.uid) ?? randomUUID(),
        resourceVersion: this.nextResourceVersion(),
        generation: isSpecChanged ? generation + 1 : generation,
        creationTimestamp: (previous?.metadata.creationTimestamp) ?? timestamp(),
      },
    };
  }

  private updateOwner(request: SimRequest, object: KubeObject): Omit<Ownership, 'paths' | 'operation'> {
    return { manager: request.query.get('fieldManager') ?? 'unknown', apiVersion: String(object.apiVersion), time: timestamp() };
  }

  private render(stored: StoredObject): KubeObject {
    const object = structuredClone(stored.object);
    object.metadata.managedFields = renderManagedFields(stored.owners);
    return object;
  }

  private nextResourceVersion(): string {
    this.resourceVersion += 1;
    return String(this.resourceVersion);
  }

  private coreObject(kind: string, meta: { namespace: string; name: string }, fields: Record<string, unknown>): Record<string, unknown> {
    return { kind, apiVersion: 'v1', metadata: { ...meta, uid: randomUUID(), resourceVersion: this.nextResourceVersion(), creationTimestamp: timestamp() }, ...fields };
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

function withoutServerFields(object: KubeObject): KubeObject {
  const copy = structuredClone(object);
  for (const field of SERVER_METADATA) delete copy.metadata[field];
  delete copy.status;
  return copy;
}

function timestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}
