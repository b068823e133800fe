import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../../../src/clock.js';
import type { KeystoneAuth } from '../../../src/openstack/keystone-client.js';
import type { CloudModel } from './cloud-model.js';
import { networkIdOf, neutronFloatingIps, neutronNetwork, neutronPorts, novaServer } from './cloud-views.js';
import { KeystoneDirectory, UNAUTHORIZED_MESSAGE, keystoneTime, makeToken, type AuthOutcome } from './keystone-sim.js';

/**
 * Keystone v3, Nova and Neutron in one in-process HTTP server, following the published API shapes:
 * Keystone issues tokens (X-Subject-Token, expires_at, a catalog whose compute and network
 * endpoints point back here per region and interface, and nfv-orchestration at the Tacker URL);
 * Nova and Neutron serve the CloudModel's servers to holders of a live token of their project.
 */

export type SimService = 'identity' | 'compute' | 'network';

export interface OpenStackSimulatorOptions {
  cloud: CloudModel;
  tackerUrl?: string;
  /** Dates issued_at/expires_at and decides expiry; pass the client's ManualClock to test refresh. */
  clock?: Clock;
  /** The project the credentials are scoped to; CloudModel's servers default to tenant-a. */
  projectId?: string;
  /** Serve HTTPS with this key and certificate. */
  tls?: { key: string; cert: string };
  /** Highest compute microversion served; higher requests get 406 as from Nova. */
  novaMaxMicroversion?: string;
}

export interface SimCredentials {
  applicationCredentialById: Extract<KeystoneAuth, { method: 'application_credential'; id: string }>;
  applicationCredentialByName: Extract<KeystoneAuth, { method: 'application_credential'; name: string }>;
  passwordByName: Extract<KeystoneAuth, { method: 'password' }>;
  passwordById: Extract<KeystoneAuth, { method: 'password' }>;
}

export interface RecordedRequest {
  service: SimService;
  method: string;
  /** Path below the service root, without query. */
  path: string;
  query: string;
  region?: string;
  interface?: string;
  microversion?: string;
}

export interface InjectedFailure {
  service: SimService;
  status: number;
  /** How many requests fail; default 1. */
  times?: number;
  headers?: Record<string, string>;
  /** Never answer, so that the client's timeout has to end the request. */
  stall?: boolean;
}

export interface OpenStackSimulator {
  readonly baseUrl: string;
  /** OS_AUTH_URL, ending in /v3. */
  readonly keystoneUrl: string;
  readonly credentials: SimCredentials;
  readonly requests: RecordedRequest[];
  readonly regions: readonly string[];
  tokensIssued(): number;
  /** What keystonemiddleware in front of another service (the Tacker simulator) would decide. */
  isTokenValid(token: string): boolean;
  setTokenLifetime(ms: number): void;
  /** Every token issued so far stops working, as after a password change. */
  revokeTokens(): void;
  setTackerUrl(url: string | undefined): void;
  /** Makes Nova answer `addresses: {}` for every server, as some clouds' policy or a stale cache does. */
  setNovaHidesAddresses(hidden: boolean): void;
  /** Neutron answers 404 for this network, as for one the project cannot see. */
  hideNetwork(name: string): void;
  failNext(failure: InjectedFailure): void;
  close(): Promise<void>;
}

interface IssuedToken {
  expiresAtMs: number;
  projectId?: string;
  revoked: boolean;
}

const REGIONS = ['RegionOne', 'RegionTwo'] as const;
const INTERFACES_BY_REGION: Record<string, string[]> = { RegionOne: ['public', 'internal', 'admin'], RegionTwo: ['public', 'internal'] };
const DEFAULT_TOKEN_LIFETIME_MS = 3_600_000;
const SERVICE_PATH = /^\/([^/]+)\/(public|internal|admin)\/(compute\/v2\.1|networking)(\/.*)?$/;
const IDENTITY_PATH = /^\/identity\/v3(\/.*)?$/;

export async function startOpenStackSimulator(options: OpenStackSimulatorOptions): Promise<OpenStackSimulator> {
  const simulator = new Simulator(options);
  await simulator.listen();
  return simulator;
}

class Simulator implements OpenStackSimulator {
  readonly requests: RecordedRequest[] = [];
  readonly regions = REGIONS;
  readonly credentials: SimCredentials;
  private readonly server: Server;
  private readonly directory: KeystoneDirectory;
  private readonly clock: Clock;
  private readonly tokens = new Map<string, IssuedToken>();
  private readonly failures: InjectedFailure[] = [];
  private readonly hiddenNetworks = new Set<string>();
  private tokenLifetimeMs = DEFAULT_TOKEN_LIFETIME_MS;
  private issued = 0;
  private tackerUrl: string | undefined;
  private novaHidesAddresses = false;
  private port = 0;

  constructor(private readonly options: OpenStackSimulatorOptions) {
    this.clock = options.clock ?? systemClock;
    this.tackerUrl = options.tackerUrl;
    this.directory = new KeystoneDirectory(options.projectId ?? 'tenant-a');
    this.credentials = credentialsOf(this.directory);
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      void this.handle(req, res).catch((error: unknown) => send(res, 500, { error: { code: 500, title: 'Internal Server Error', message: String(error) } }));
    };
    this.server = options.tls === undefined ? createHttpServer(handler) : createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, handler);
  }

  get baseUrl(): string {
    return `${this.options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${this.port}`;
  }

  get keystoneUrl(): string {
    return `${this.baseUrl}/identity/v3`;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  tokensIssued(): number {
    return this.issued;
  }

  isTokenValid(value: string): boolean {
    const token = this.tokens.get(value);
    return token !== undefined && !token.revoked && this.clock.now() < token.expiresAtMs && token.projectId !== undefined;
  }

  setTokenLifetime(ms: number): void {
    this.tokenLifetimeMs = ms;
  }

  revokeTokens(): void {
    for (const token of this.tokens.values()) token.revoked = true;
  }

  setTackerUrl(url: string | undefined): void {
    this.tackerUrl = url;
  }

  setNovaHidesAddresses(hidden: boolean): void {
    this.novaHidesAddresses = hidden;
  }

  hideNetwork(name: string): void {
    this.hiddenNetworks.add(name);
  }

  failNext(failure: InjectedFailure): void {
    this.failures.push({ ...failure, times: failure.times ?? 1 });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.baseUrl);
    const identity = IDENTITY_PATH.exec(url.pathname);
    if (identity !== null) {
      const body = await readBody(req);
      this.record(req, { service: 'identity', path: identity[1] ?? '/', query: url.search });
      if (!this.injectedFailure('identity', res)) this.handleIdentity(req, res, identity[1] ?? '/', body);
      return;
    }
    const match = SERVICE_PATH.exec(url.pathname);
    if (match === null) {
      notFoundText(res);
      return;
    }
    const service: SimService = match[3] === 'networking' ? 'network' : 'compute';
    const path = match[4] ?? '/';
    this.record(req, { service, path, query: url.search, region: match[1], interface: match[2] });
    if (this.injectedFailure(service, res)) return;
    const projectId = this.authorize(req, res);
    if (projectId === undefined) return;
    if (service === 'compute') this.handleCompute(req, res, { path, projectId, query: url.searchParams, computeUrl: `${this.baseUrl}/${match[1]}/${match[2]}/compute/v2.1` });
    else this.handleNetwork(res, { path, projectId, query: url.searchParams });
  }

  private record(req: IncomingMessage, request: Omit<RecordedRequest, 'method'>): void {
    const microversion = req.headers['openstack-api-version'];
    this.requests.push({ method: req.method ?? 'GET', ...request, ...(typeof microversion === 'string' ? { microversion } : {}) });
  }

  private injectedFailure(service: SimService, res: ServerResponse): boolean {
    const failure = this.failures.find((candidate) => candidate.service === service && (candidate.times ?? 0) > 0);
    if (failure === undefined) return false;
    failure.times = (failure.times ?? 1) - 1;
    if (failure.stall === true) return true;
    for (const [name, value] of Object.entries(failure.headers ?? {})) res.setHeader(name, value);
    send(res, failure.status, { error: { code: failure.status, title: 'Injected', message: `Injected failure ${failure.status}.` } });
    return true;
  }

  private handleIdentity(req: IncomingMessage, res: ServerResponse, path: string, body: string): void {
    if (req.method === 'GET' && path === '/') {
      send(res, 200, { version: { id: 'v3.14', status: 'stable', links: [{ rel: 'self', href: `${this.keystoneUrl}/` }] } });
      return;
    }
    if (req.method !== 'POST' || path !== '/auth/tokens') {
      send(res, 404, { error: { code: 404, title: 'Not Found', message: 'The resource could not be found.' } });
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      send(res, 400, { error: { code: 400, title: 'Bad Request', message: 'Malformed JSON' } });
      return;
    }
    const outcome = this.directory.authenticate(json);
    if ('status' in outcome) {
      const title = outcome.status === 401 ? 'Unauthorized' : 'Bad Request';
      if (outcome.status === 401) res.setHeader('www-authenticate', `Keystone uri="${this.keystoneUrl}"`);
      send(res, outcome.status, { error: { code: outcome.status, title, message: outcome.message } });
      return;
    }
    this.issueToken(res, outcome);
  }

  private issueToken(res: ServerResponse, outcome: AuthOutcome): void {
    const token = makeToken();
    const issuedAtMs = this.clock.now();
    const expiresAtMs = issuedAtMs + this.tokenLifetimeMs;
    this.tokens.set(token, { expiresAtMs, revoked: false, ...(outcome.project === undefined ? {} : { projectId: outcome.project.id }) });
    this.issued += 1;
    res.setHeader('x-subject-token', token);
    send(res, 201, { token: this.tokenBody(outcome, issuedAtMs, expiresAtMs) });
  }

  private tokenBody(outcome: AuthOutcome, issuedAtMs: number, expiresAtMs: number): Record<string, unknown> {
    const { user, project } = outcome;
    return {
      methods: [outcome.method],
      user: { id: user.id, name: user.name, domain: { ...user.domain }, password_expires_at: null },
      audit_ids: [randomUUID().replaceAll('-', '').slice(0, 22)],
      issued_at: keystoneTime(issuedAtMs),
      expires_at: keystoneTime(expiresAtMs),
      ...(project === undefined
        ? {}
        : {
            project: { id: project.id, name: project.name, domain: { ...project.domain } },
            is_domain: false,
            roles: [{ id: 'b1c8f0a3a1d94f0f9b1e7a7c2d3e4f50', name: 'member' }, { id: 'c2d9e1b4b2e05f1fac2f8b8d3e4f5061', name: 'reader' }],
            catalog: this.catalog(),
          }),
      ...(outcome.applicationCredential === undefined
        ? {}
        : { application_credential: { id: outcome.applicationCredential.id, name: outcome.applicationCredential.name, restricted: true } }),
    };
  }

  private catalog(): Record<string, unknown>[] {
    const endpointsFor = (service: string): Record<string, unknown>[] =>
      REGIONS.flatMap((region) =>
        (INTERFACES_BY_REGION[region] ?? []).map((iface) => ({
          id: stableEndpointId(service, region, iface),
          interface: iface,
          region,
          region_id: region,
          url: `${this.baseUrl}/${region}/${iface}/${service === 'compute' ? 'compute/v2.1' : 'networking'}`,
        })),
      );
    const catalog: Record<string, unknown>[] = [
      { id: 'svc-identity', type: 'identity', name: 'keystone', endpoints: [{ id: 'ep-identity', interface: 'public', region: 'RegionOne', region_id: 'RegionOne', url: this.keystoneUrl }] },
      { id: 'svc-compute', type: 'compute', name: 'nova', endpoints: endpointsFor('compute') },
      { id: 'svc-network', type: 'network', name: 'neutron', endpoints: endpointsFor('network') },
    ];
    if (this.tackerUrl !== undefined) {
      const url = this.tackerUrl;
      const endpoints = ['public', 'internal', 'admin'].map((iface) => ({ id: `ep-tacker-${iface}`, interface: iface, region: 'RegionOne', region_id: 'RegionOne', url }));
      catalog.push({ id: 'svc-tacker', type: 'nfv-orchestration', name: 'tacker', endpoints });
    }
    return catalog;
  }

  /** keystonemiddleware's answer to a missing, unknown, expired or revoked token. */
  private authorize(req: IncomingMessage, res: ServerResponse): string | undefined {
    const header = req.headers['x-auth-token'];
    const token = typeof header === 'string' && this.isTokenValid(header) ? this.tokens.get(header) : undefined;
    if (token?.projectId !== undefined) return token.projectId;
    res.setHeader('www-authenticate', `Keystone uri="${this.keystoneUrl}"`);
    send(res, 401, { error: { code: 401, title: 'Unauthorized', message: UNAUTHORIZED_MESSAGE } });
    return undefined;
  }

  private handleCompute(req: IncomingMessage, res: ServerResponse, request: { path: string; projectId: string; computeUrl: string; query: URLSearchParams }): void {
    const version = this.negotiateMicroversion(req, res);
    if (version === undefined) return;
    if (req.method === 'GET' && request.path === '/servers') {
      this.listServers(res, request);
      return;
    }
    const match = /^\/servers\/([^/]+)$/.exec(request.path);
    if (req.method !== 'GET' || match === null) {
      notFoundText(res);
      return;
    }
    const id = decodeURIComponent(match[1] as string);
    const server = this.options.cloud.getServer(id);
    // Nova shows non-admin users neither other projects' servers nor deleted ones.
    if (server === undefined || server.tenantId !== request.projectId || server.status === 'DELETED') {
      send(res, 404, { itemNotFound: { code: 404, message: `Instance ${id} could not be found.` } });
      return;
    }
    send(res, 200, novaServer(server, { hideAddresses: this.novaHidesAddresses, computeUrl: request.computeUrl }));
  }

  /** `GET /servers` as Nova answers it: the project's live servers, id, name and links only; `?limit=` honoured. */
  private listServers(res: ServerResponse, request: { projectId: string; computeUrl: string; query: URLSearchParams }): void {
    const limit = Number(request.query.get('limit') ?? Number.POSITIVE_INFINITY);
    const servers = this.options.cloud
      .listServers()
      .filter((server) => server.tenantId === request.projectId && server.status !== 'DELETED')
      .slice(0, Number.isFinite(limit) && limit >= 0 ? limit : undefined)
      .map((server) => ({ id: server.id, name: server.name, links: [{ rel: 'self', href: `${request.computeUrl}/servers/${server.id}` }] }));
    send(res, 200, { servers });
  }

  /** `OpenStack-API-Version: compute 2.79`; absent means 2.1; beyond the maximum is 406, as Nova answers. */
  private negotiateMicroversion(req: IncomingMessage, res: ServerResponse): string | undefined {
    const max = this.options.novaMaxMicroversion ?? '2.96';
    const header = req.headers['openstack-api-version'];
    const requested = typeof header === 'string' ? /^compute (\d+\.\d+|latest)$/i.exec(header.trim())?.[1] : '2.1';
    const version = requested === 'latest' ? max : requested;
    if (version === undefined || minor(version) > minor(max) || minor(version) < 1) {
      send(res, 406, { computeFault: { code: 406, message: `Version ${version ?? String(header)} is not supported by the API. Minimum is 2.1 and maximum is ${max}.` } });
      return undefined;
    }
    res.setHeader('openstack-api-version', `compute ${version}`);
    res.setHeader('x-openstack-nova-api-version', version);
    res.setHeader('vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
    return version;
  }

  private handleNetwork(res: ServerResponse, request: { path: string; projectId: string; query: URLSearchParams }): void {
    const servers = this.options.cloud.listServers().filter((server) => server.tenantId === request.projectId && server.status !== 'DELETED');
    if (request.path === '/v2.0/ports') {
      send(res, 200, { ports: neutronPorts(servers, request.query.getAll('device_id')) });
      return;
    }
    if (request.path === '/v2.0/floatingips') {
      send(res, 200, { floatingips: neutronFloatingIps(servers, request.query.getAll('port_id')) });
      return;
    }
    const network = /^\/v2\.0\/networks\/([^/]+)$/.exec(request.path);
    const names = new Set(servers.flatMap((server) => Object.keys(server.networks)));
    const name = network === null ? undefined : [...names].find((candidate) => networkIdOf(candidate) === network[1] && !this.hiddenNetworks.has(candidate));
    if (name !== undefined) {
      send(res, 200, neutronNetwork(name, request.projectId));
      return;
    }
    send(res, 404, { NeutronError: { type: network === null ? 'HTTPNotFound' : 'NetworkNotFound', message: `Network ${network?.[1] ?? ''} could not be found.`, detail: '' } });
  }
}

function credentialsOf(directory: KeystoneDirectory): SimCredentials {
  const { user, project, applicationCredential } = directory;
  return {
    applicationCredentialById: { method: 'application_credential', id: applicationCredential.id, secret: applicationCredential.secret },
    applicationCredentialByName: {
      method: 'application_credential',
      name: applicationCredential.name,
      user: { name: user.name, domain: { name: user.domain.name } },
      secret: applicationCredential.secret,
    },
    passwordByName: { method: 'password', user: { name: user.name, domain: { name: 'Default' } }, password: user.password, project: { name: project.name, domain: { id: 'default' } } },
    passwordById: { method: 'password', user: { id: user.id }, password: user.password, project: { id: project.id } },
  };
}

function minor(version: string): number {
  return Number(version.split('.')[1] ?? Number.NaN);
}

function stableEndpointId(service: string, region: string, iface: string): string {
  return `ep-${service}-${region}-${iface}`.toLowerCase();
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.setHeader('x-openstack-request-id', `req-${randomUUID()}`);
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** What a web server in front of the APIs answers for a path no API serves. */
function notFoundText(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/plain' }).end('404 Not Found\n\nThe resource could not be found.\n');
}
