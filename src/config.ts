import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AppError } from './errors.js';
import { formatZodProblems } from './validation.js';
import { durationSchema, durationToMs } from './duration.js';
import { injectionSpecSchema } from './injection-spec.js';
import { hostPortSchema, hostnameSchema } from './network-address.js';
import { openstackConfigSchema } from './openstack/openstack-config.js';
import { meshProfilesSchema } from './tacker/mesh-parameters.js';

const scopeSchema = z.enum(['read', 'write', 'secrets']).describe(
  'read: GET endpoints and dry-run renders with secrets masked; write: create and change jobs; secrets: receive unmasked secrets from /v1/render.',
);
export type Scope = z.infer<typeof scopeSchema>;

const apiTokenSchema = z
  .object({
    name: z.string().min(1).describe('Who holds the token; appears in logs instead of the token.'),
    file: z.string().min(1).describe('File holding the bearer token (one line). Never put a token in the config file itself.'),
    scopes: z.array(scopeSchema).min(1).default(['read', 'write']),
  })
  .strict();

const tlsSchema = z
  .object({
    certFile: z.string().min(1).describe('PEM server certificate, its chain after it.'),
    keyFile: z.string().min(1).describe('PEM private key of the certificate.'),
    clientCaFile: z
      .string()
      .min(1)
      .optional()
      .describe('PEM CA bundle; when set, every client must present a certificate it signed (mTLS, as Tacker v2 OAUTH2_CLIENT_CERT does).'),
    minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2').describe('Oldest TLS version accepted.'),
    reloadInterval: durationSchema
      .default('30s')
      .describe('How often the files are read again; a changed certificate, key or CA is served to new connections without a restart.'),
  })
  .strict()
  .describe('Serve HTTPS instead of HTTP.');

const limitsSchema = z
  .object({
    headersTimeout: durationSchema.default('10s').describe('A client must send all request headers within this time (slow-header attacks).'),
    requestTimeout: durationSchema.default('60s').describe('A client must send the whole request within this time.'),
    keepAliveTimeout: durationSchema.default('5s').describe('An idle keep-alive connection is closed after this time.'),
    maxRequestsPerSocket: z.number().int().min(0).default(1000).describe('Requests served on one connection before it is closed (0: no bound).'),
    maxConnections: z.number().int().positive().default(512).describe('Open connections at once; further ones are refused.'),
    maxHeaderBytes: z.number().int().min(1024).max(1024 * 1024).default(16 * 1024).describe('Largest request header block (431 beyond).'),
  })
  .strict()
  .refine((limits) => durationToMs(limits.headersTimeout) <= durationToMs(limits.requestTimeout), {
    path: ['headersTimeout'],
    message: 'headersTimeout must not exceed requestTimeout',
  });

const rateLimitSchema = z
  .object({
    window: durationSchema.default('1m').describe('The window both budgets are counted over.'),
    unauthenticated: z
      .number()
      .int()
      .positive()
      .default(120)
      .describe('Requests per client address and window without valid credentials: open routes, and requests whose credentials fail.'),
    authenticated: z.number().int().positive().default(3000).describe('Requests per credential (API token, Tacker callback, injector signature) and window.'),
  })
  .strict()
  .describe('Beyond a budget the service answers 429 with Retry-After, as a problem document.');

const DEFAULT_BODY_LIMITS: Record<string, number> = {
  '/v1/tacker/notifications': 1024 * 1024,
  '/v1/orchestrator/events': 64 * 1024,
  '/v1/orchestrator/tacker/notifications': 1024 * 1024,
  '/v1/render': 256 * 1024,
  '/v1/injections': 256 * 1024,
  '/v1/removals': 256 * 1024,
};

const httpSchema = z
  .object({
    host: z.string().default('127.0.0.1').describe('Listen address. 127.0.0.1 keeps the embedded default private to this machine.'),
    port: z.number().int().min(0).max(65535).default(8080).describe('Listen port; 0 picks a free one.'),
    tls: tlsSchema.optional(),
    limits: limitsSchema.default(limitsSchema.parse({})),
    rateLimit: rateLimitSchema.default(rateLimitSchema.parse({})),
    bodyLimitBytes: z.number().int().positive().default(1024 * 1024).describe('Largest request body accepted where bodyLimits names no route.'),
    bodyLimits: z
      .record(z.string().startsWith('/'), z.number().int().positive())
      .default(DEFAULT_BODY_LIMITS)
      .describe('Largest request body per path prefix (the longest matching prefix applies); replaces the defaults when set.'),
    auth: z
      .object({
        mode: z.enum(['bearer', 'none']).default('bearer').describe('none disables authentication; only for isolated test setups.'),
        tokens: z
          .array(apiTokenSchema)
          .default([])
          .describe('API tokens. When empty in bearer mode, one admin token is generated into <dataDir>/api-token (mode 0600).'),
        anonymousPaths: z
          .array(z.string().startsWith('/'))
          .default([])
          .describe('Exact paths served without authentication, e.g. ["/healthz", "/readyz"] for probes that cannot send headers.'),
      })
      .strict()
      .default({ mode: 'bearer', tokens: [], anonymousPaths: [] }),
  })
  .strict();

const meshSchema = z
  .object({
    credentials: z
      .discriminatedUnion('kind', [
        z
          .object({
            kind: z.literal('file'),
            dir: z
              .string()
              .default('mesh-credentials')
              .describe('Folder of root certificates, tokens and mesh configs; relative paths are under dataDir. Layout in docs/configuration.md.'),
          })
          .strict(),
        z.object({ kind: z.literal('kubernetes') }).strict().describe('Root certificate, tokens (TokenRequest) and mesh config from the cluster; needs the kubernetes section.'),
      ])
      .default({ kind: 'file', dir: 'mesh-credentials' }),
    tokenLifetime: durationSchema.default('1h').describe('Lifetime asked for bootstrap tokens: long enough to cover boot and package download.'),
    istioCa: z
      .object({
        address: hostPortSchema
          .optional()
          .describe("host:port of istiod's CA as this service reaches it; defaults to the spec's discovery address (istiod[-<rev>].<ns>.svc:15012)."),
        servername: hostnameSchema.optional().describe("Name istiod's serving certificate is checked against; defaults to the discovery address's host."),
        certificateValidity: durationSchema.default('24h').describe('Validity asked for VM certificates; istiod may cap it (MAX_WORKLOAD_CERT_TTL).'),
        renewBefore: durationSchema
          .default('8h')
          .describe('Certificates closer than this to expiry are re-issued by a new injection (pilot-agent does not rotate file-mounted certificates).'),
        renewCheckInterval: durationSchema.default('10m').describe('How often the service looks for certificates to re-issue.'),
        callTimeout: durationSchema.default('30s').describe('Bounds one CreateCertificate call, connection included.'),
      })
      .strict()
      .default({ certificateValidity: '24h', renewBefore: '8h', renewCheckInterval: '10m', callTimeout: '30s' })
      .describe("For specs with mesh.certificates istio-ca: how this service reaches istiod's CA (docs/istio-ca.md)."),
  })
  .strict();

const orchestratorSchema = z
  .object({
    database: z.string().default('orchestrator.sqlite').describe('SQLite inbox of injection events; relative paths are under dataDir. Unused with store.kind postgres.'),
    eventSecretFile: z
      .string()
      .min(1)
      .optional()
      .describe("HMAC secret the injector signs its events with; defaults to notify.webhook.secretFile (the injector and the orchestrator in one service)."),
    trustDomain: z.string().min(1).optional().describe('Trust domain for AuthorizationPolicy principals; default cluster.local.'),
    pollInterval: durationSchema.default('2s').describe("Between two looks at a running Tacker operation: at Tacker's API, or, while subscribed, at the inbox of its notifications."),
    tackerNotifications: z
      .object({
        subscribe: z
          .boolean()
          .default(true)
          .describe("Subscribe to Tacker v2's results of the operations the orchestrator runs, with the callback at tacker.callbackBaseUrl + /v1/orchestrator/tacker/notifications; without callbackBaseUrl, or when false, operations are polled."),
        apiReadInterval: durationSchema.default('30s').describe("While subscribed: between two reads of a running operation from Tacker's API, which make up for a notification that never came."),
      })
      .strict()
      .default({ subscribe: true, apiReadInterval: '30s' })
      .describe("Tacker's LCM operation notifications for the VNFs and CNFs the orchestrator creates (docs/orchestrator.md)."),
    operationTimeout: durationSchema.default('15m').describe('Bounds one Tacker operation (instantiate, scale, terminate).'),
    injectionTimeout: durationSchema.default('30m').describe('How long a deployment waits for its VMs to join (or leave) the mesh.'),
    readyTimeout: durationSchema.default('10m').describe('How long a deployment waits for its containers to be ready.'),
  })
  .strict()
  .describe('The orchestrator module (docs/orchestrator.md): deploys service descriptors; needs kubernetes, and tacker for VM microservices.');

const jobsSchema = z
  .object({
    database: z.string().default('jobs.sqlite').describe('SQLite job store (WAL); relative paths are under dataDir. Unused with store.kind postgres.'),
    concurrency: z.number().int().min(1).max(256).default(8).describe('Jobs running at once across all VMs; one job at a time per VM regardless.'),
    connectDeadline: durationSchema.default('10m').describe('How long a job keeps trying to reach a VM that is still booting.'),
    commandTimeout: durationSchema.default('15m').describe('Longest time one remote command (the install) may run.'),
  })
  .strict();

const postgresUrlSchema = z
  .string()
  .min(1)
  .refine((value) => /^postgres(ql)?:\/\//.test(value), 'must be a postgresql:// URL')
  .refine((value) => !URL.canParse(value) || new URL(value).password === '', 'must not hold a password: put it in passwordFile')
  .describe(
    'libpq-style URL of the shared database, e.g. postgresql://vmsi@db.example:5432/vmsi?sslmode=verify-full&sslrootcert=/etc/vmsi/db-ca.pem, or ?host=/run/postgresql for a Unix socket.',
  );

const storeSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('sqlite') }).strict().describe('Embedded, for one machine: jobs.database and orchestrator.database under dataDir. One replica only.'),
    z
      .object({
        kind: z.literal('postgres'),
        url: postgresUrlSchema,
        passwordFile: z.string().min(1).optional().describe('File holding the database password (one line); omit for peer, certificate or .pgpass authentication.'),
        poolSize: z.number().int().min(2).max(200).default(10).describe('Connections per replica; the database must allow poolSize times the replica count, and then some.'),
        connectTimeout: durationSchema.default('10s').describe('Bounds opening one connection.'),
        statementTimeout: durationSchema.default('30s').describe('Bounds one statement on the server.'),
        lease: durationSchema
          .default('30s')
          .describe("The longest a dead replica's running job waits before another replica takes it over; leases are renewed four times per lease."),
        replicaName: z.string().min(1).max(64).optional().describe("Names this replica in leases and pg_stat_activity; defaults to the host name. The process id is always added."),
      })
      .strict()
      .describe('Shared by several replicas (docs/high-availability.md): jobs, logs and the orchestrator inbox in one PostgreSQL database.'),
  ])
  .default({ kind: 'sqlite' })
  .describe('Where jobs and the orchestrator inbox are kept.');

const sshSchema = z
  .object({
    secretsDir: z.string().default('secrets').describe('Where {secret: name} key references are read from; relative paths are under dataDir.'),
    knownHosts: z.string().default('known_hosts').describe('Host keys recorded by the accept-new policy, per server.'),
    remoteBundleDir: z.string().default('/run/vm-sidecar-injector').describe('Parent of the per-job bundle folder on the VM (tmpfs: the token never reaches disk there).'),
  })
  .strict();

const registrySchema = z
  .discriminatedUnion('kind', [
    z
      .object({
        kind: z.literal('file'),
        dir: z.string().default('registry').describe('Where WorkloadGroup/WorkloadEntry manifests are written; relative paths are under dataDir.'),
      })
      .strict(),
    z.object({ kind: z.literal('kubernetes') }).strict().describe('WorkloadGroups and WorkloadEntries in the cluster (server-side apply); needs the kubernetes section.'),
  ])
  .default({ kind: 'file', dir: 'registry' });

const kubernetesSchema = z
  .object({
    kubeconfig: z.string().min(1).optional().describe("A kubeconfig file made for the service's own identity."),
    context: z.string().min(1).optional(),
    inCluster: z.boolean().default(false).describe('Use the pod service account (token, CA and API address from the pod).'),
    requestTimeout: durationSchema.default('30s'),
  })
  .strict()
  .refine((kubernetes) => kubernetes.inCluster !== (kubernetes.kubeconfig !== undefined), 'set exactly one of kubeconfig or inCluster: true')
  .describe('How the service reaches Kubernetes (docs/kubernetes.md); used by the kubernetes credentials and registry.');

const webhookSchema = z
  .object({
    url: z.url({ protocol: /^https?$/ }).describe('Receives CloudEvents for injection outcomes.'),
    secretFile: z.string().min(1).describe('File with the shared HMAC-SHA256 secret for X-Vmsi-Signature.'),
    source: z.string().default('/vm-sidecar-injector'),
    deadline: durationSchema.default('10m').describe('How long one event is retried.'),
  })
  .strict();

const specShape = injectionSpecSchema.shape;
const specMeshShape = specShape.mesh.shape;
const specSshShape = specShape.vm.shape.ssh.unwrap().shape;

const callbackAuthSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('none') }).strict(),
    z.object({ kind: z.literal('basic'), username: z.string().min(1), passwordFile: z.string().min(1) }).strict(),
    z
      .object({
        kind: z.literal('oauth2-introspection'),
        introspectionUrl: z.url({ protocol: /^https?$/ }).describe('RFC 7662 endpoint of the issuer Tacker gets its tokens from.'),
        clientId: z.string().min(1),
        clientSecretFile: z.string().min(1),
      })
      .strict(),
    z
      .object({
        kind: z.literal('oauth2-jwks'),
        jwksFile: z.string().min(1).describe('JSON Web Key Set of the issuer (RS256/384/512, ES256/384).'),
        issuer: z.string().min(1).optional(),
        audience: z.string().min(1).optional(),
      })
      .strict(),
  ])
  .describe('How Tacker authenticates to the notification callback (the subscription states the same).');

const telemetrySchema = z
  .object({
    tracing: z
      .object({
        endpoint: z.url({ protocol: /^https?$/ }).describe('OTLP/HTTP traces endpoint, e.g. http://otel-collector:4318/v1/traces (no credentials in the URL: it is logged).'),
        serviceName: z.string().min(1).default('vm-sidecar-injector').describe('The service.name resource attribute.'),
        sampleRatio: z.number().min(0).max(1).default(1).describe('Share of new traces recorded; a caller that sends a sampled traceparent is always followed.'),
      })
      .strict()
      .optional()
      .describe('OpenTelemetry traces (notification → job → steps → SSH, HTTP calls → webhook); off when absent, and then no SDK is loaded.'),
  })
  .strict();

const tackerSchema = z
  .object({
    apiVersions: z.array(z.enum(['v1', 'v2'])).min(1).default(['v2', 'v1']).describe('Which callback routes exist: /v1/tacker/notifications/{v1,v2}.'),
    callbackAuth: callbackAuthSchema,
    callbackAuthByApi: z
      .object({ v1: callbackAuthSchema.optional(), v2: callbackAuthSchema.optional() })
      .strict()
      .default({})
      .describe('Per route: e.g. v1 subscriptions with BASIC while v2 uses OAuth2; callbackAuth applies where none is set.'),
    callbackBaseUrl: z.url({ protocol: /^https?$/ }).optional().describe('This service as Tacker reaches it; `vmsi tacker subscribe` builds the callback URI from it.'),
    oauth2: z
      .object({ tokenEndpoint: z.url({ protocol: /^https?$/ }), clientId: z.string().min(1), clientSecretFile: z.string().min(1) })
      .strict()
      .optional()
      .describe('Client credentials Tacker uses to get tokens for our callback (OAUTH2_CLIENT_CREDENTIALS subscriptions).'),
    defaults: z
      .object({
        ssh: z
          .object({ user: specSshShape.user, port: specSshShape.port, privateKeySecret: z.string().min(1), hostKey: specSshShape.hostKey })
          .strict()
          .describe('Used when meshSidecar.ssh is absent; the key is a secret name resolved by the service.'),
        package: specShape.package,
        mesh: z
          .object({
            gateway: specMeshShape.gateway,
            discoveryAddress: specMeshShape.discoveryAddress,
            clusterId: specMeshShape.clusterId,
            trustDomain: specMeshShape.trustDomain,
            meshId: specMeshShape.meshId,
            revision: specMeshShape.revision,
            istioNamespace: specMeshShape.istioNamespace,
          })
          .strict(),
        readyTimeout: durationSchema.default('180s'),
      })
      .strict(),
    profiles: meshProfilesSchema.default({}),
  })
  .strict()
  .describe('The Tacker plugin; absent means no Tacker routes.');

export const configSchema = z
  .object({
    dataDir: z.string().default('.vmsi').describe('Where the service keeps its state; relative to the working directory.'),
    log: z
      .object({ level: z.enum(['error', 'warn', 'info', 'debug']).default('info') })
      .strict()
      .default({ level: 'info' }),
    http: httpSchema.default(httpSchema.parse({})),
    mesh: meshSchema.default(meshSchema.parse({})),
    artifactsDir: z.string().default('artifacts').describe('Packages pushed to VMs without a route out; relative paths are under dataDir.'),
    jobs: jobsSchema.default(jobsSchema.parse({})),
    store: storeSchema,
    ssh: sshSchema.default(sshSchema.parse({})),
    registry: registrySchema,
    kubernetes: kubernetesSchema.optional(),
    notify: z
      .object({ webhook: webhookSchema.optional() })
      .strict()
      .default({})
      .describe('Where injection outcomes are announced; nothing is sent when absent.'),
    openstack: openstackConfigSchema.optional(),
    tacker: tackerSchema.optional(),
    orchestrator: orchestratorSchema.optional(),
    telemetry: telemetrySchema.default({}),
  })
  .strict()
  .refine((config) => config.tacker === undefined || config.openstack !== undefined, {
    path: ['openstack'],
    message: 'the Tacker plugin needs openstack (Keystone) settings to read Tacker and Nova',
  })
  .refine((config) => config.http.tls === undefined || config.tacker?.callbackBaseUrl === undefined || config.tacker.callbackBaseUrl.startsWith('https://'), {
    path: ['tacker', 'callbackBaseUrl'],
    message: 'the service serves HTTPS (http.tls): the callback URL Tacker is given must be https',
  })
  .refine((config) => config.orchestrator === undefined || config.orchestrator.eventSecretFile !== undefined || config.notify.webhook !== undefined, {
    path: ['orchestrator', 'eventSecretFile'],
    message: "the orchestrator checks the injector's signed events: set eventSecretFile, or notify.webhook (its secretFile is used)",
  })
  .refine((config) => config.orchestrator === undefined || config.kubernetes !== undefined, {
    path: ['kubernetes'],
    message: 'the orchestrator deploys into a cluster: it needs the kubernetes section (kubeconfig or inCluster)',
  })
  .refine((config) => (config.mesh.credentials.kind !== 'kubernetes' && config.registry.kind !== 'kubernetes') || config.kubernetes !== undefined, {
    path: ['kubernetes'],
    message: 'kubernetes credentials or registry need the kubernetes section (kubeconfig or inCluster)',
  });

export type Config = z.infer<typeof configSchema>;
export type HttpConfig = Config['http'];
export type TlsConfig = z.infer<typeof tlsSchema>;
export type RateLimitConfig = z.infer<typeof rateLimitSchema>;

/** The body limit of a request path: the longest bodyLimits prefix that matches, else bodyLimitBytes. */
export function bodyLimitFor(http: Pick<HttpConfig, 'bodyLimits' | 'bodyLimitBytes'>, requestPath: string): number {
  let best: { prefix: string; limit: number } | undefined;
  for (const [prefix, limit] of Object.entries(http.bodyLimits)) {
    const matches = requestPath === prefix || requestPath.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);
    if (matches && (best === undefined || prefix.length > best.prefix.length)) best = { prefix, limit };
  }
  return best?.limit ?? http.bodyLimitBytes;
}
export type TackerConfig = z.infer<typeof tackerSchema>;
export type StoreConfig = z.infer<typeof storeSchema>;
export type CallbackAuthConfig = z.infer<typeof callbackAuthSchema>;

/** Environment variables the service reads, each mapped onto one config key. */
const ENVIRONMENT_KEYS: ReadonlyArray<[string, (config: Record<string, unknown>, value: string) => void]> = [
  ['VMSI_DATA_DIR', (c, v) => setPath(c, ['dataDir'], v)],
  ['VMSI_LOG_LEVEL', (c, v) => setPath(c, ['log', 'level'], v)],
  ['VMSI_HTTP_HOST', (c, v) => setPath(c, ['http', 'host'], v)],
  ['VMSI_HTTP_PORT', (c, v) => setPath(c, ['http', 'port'], Number(v))],
  ['VMSI_AUTH_MODE', (c, v) => setPath(c, ['http', 'auth', 'mode'], v)],
];

function setPath(target: Record<string, unknown>, keys: string[], value: unknown): void {
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    node[key] = typeof next === 'object' && next !== null ? next : {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1] as string] = value;
}

export interface ConfigSources {
  file?: string;
  env?: NodeJS.ProcessEnv;
}

/** The only place that reads process.env and the config file. */
export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? process.env;
  const file = sources.file ?? env.VMSI_CONFIG;
  const raw = file ? readConfigFile(file) : {};
  for (const [name, apply] of ENVIRONMENT_KEYS) {
    const value = env[name];
    if (value !== undefined && value !== '') apply(raw, value);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    throw new AppError('INVALID_CONFIG', `Configuration is invalid${file ? ` (${file})` : ''}.`, {
      problems: formatZodProblems(parsed.error),
    });
  }
  return parsed.data;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new AppError('INVALID_CONFIG', `Configuration file ${file} cannot be read.`, { cause });
  }
  const value: unknown = parseYaml(text);
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new AppError('INVALID_CONFIG', `Configuration file ${file} must hold a YAML mapping.`);
  }
  return value as Record<string, unknown>;
}

export function resolveDataPath(config: Config, relativeOrAbsolute: string): string {
  return path.resolve(config.dataDir, relativeOrAbsolute);
}
