import { isDeepStrictEqual } from 'node:util';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { durationSchema, durationToMs } from '../duration.js';
import { AppError, type FieldProblem } from '../errors.js';
import { dnsLabelSchema } from '../kubernetes-names.js';
import { MESH_PARAMETERS_KEY, meshParametersLayerSchema, secretProblems, type MeshParameters } from '../tacker/mesh-parameters.js';
import { isRecord } from '../tacker/sol003-fields.js';
import { formatZodProblems } from '../validation.js';

/**
 * The service descriptor (docs/service-descriptor.md): one YAML document that names every
 * microservice of an application, VM or container, and how they may call each other. Everything the
 * orchestrator deploys is derived from it, so it is validated as a whole: a reference to a service,
 * port or version that does not exist is reported together with every other problem.
 */

export const SERVICE_DESCRIPTOR_API_VERSION = 'vmsi.dev/v1alpha1';
export const SERVICE_DESCRIPTOR_KIND = 'MeshService';

const portNumber = z.number().int().min(1).max(65535);
const percent = z.number().min(0).max(100);
/** Istio rejects timeouts and delays under 1ms (CRD rule `duration(self) >= duration('1ms')`). */
const istioDuration = durationSchema.refine((value) => durationToMs(value) >= 1, 'must be at least 1ms');

export const PORT_PROTOCOLS = ['HTTP', 'HTTP2', 'GRPC', 'TCP', 'TLS'] as const;
export type PortProtocol = (typeof PORT_PROTOCOLS)[number];
const HTTP_PROTOCOLS: ReadonlySet<PortProtocol> = new Set(['HTTP', 'HTTP2', 'GRPC']);

export function isHttpProtocol(protocol: PortProtocol): boolean {
  return HTTP_PROTOCOLS.has(protocol);
}

const portSchema = z
  .strictObject({
    // Container port names are IANA service names: at most 15 characters.
    name: dnsLabelSchema.max(15, 'must be at most 15 characters (a container port name)').describe('Port name; names the Service port and the WorkloadGroup port.'),
    port: portNumber.describe('Port number, the same on the Service, the containers and the VMs.'),
    protocol: z.enum(PORT_PROTOCOLS).describe('How Istio treats the traffic: HTTP, HTTP2 and GRPC get HTTP routing; TCP and TLS are routed as opaque TCP.'),
  })
  .describe('A port the microservice listens on.');

const portsSchema = z.array(portSchema).min(1).describe('Ports of the microservice; every microservice of one service must list the same ports.');

const commonFields = {
  name: dnsLabelSchema.describe('Microservice name, unique in the descriptor; names its Deployment or WorkloadGroup.'),
  service: dnsLabelSchema
    .optional()
    .describe('Logical service (Kubernetes Service, Istio host and service account); defaults to name. Microservices sharing a service are its versions.'),
  version: dnsLabelSchema.describe('Version label (`version`) and DestinationRule subset name; unique within a service.'),
  ports: portsSchema,
};

const secretKeyRefSchema = z
  .strictObject({
    secretKeyRef: z
      .strictObject({ name: dnsLabelSchema.describe('Kubernetes Secret in the namespace.'), key: z.string().min(1).describe('Key in the Secret.') })
      .describe('The Secret and key holding the value.'),
  })
  .describe('Takes the value from a Kubernetes Secret instead of the descriptor.');

const quantity = z.string().regex(/^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/, 'must be a Kubernetes quantity, e.g. 100m, 0.5, 128Mi');
const resourceListSchema = z.strictObject({
  cpu: quantity.optional().describe('CPU, e.g. 100m.'),
  memory: quantity.optional().describe('Memory, e.g. 128Mi.'),
  'ephemeral-storage': quantity.optional().describe('Local scratch space, e.g. 1Gi.'),
});

export const CONTAINER_PATHS = ['kubernetes', 'tacker'] as const;

/** What Tacker needs to run a container microservice as a CNF (docs/orchestrator.md, "Two paths for containers"). */
const cnfSettingsSchema = z.strictObject({
  vnfdId: z.string().min(1).describe('VNFD ID of the on-boarded CNF package holding the Deployment manifest the orchestrator renders for this microservice (`vmsi orchestrator cnf-files`).'),
  flavourId: z.string().min(1).describe('Deployment flavour of the VNFD (InstantiateVnfRequest.flavourId).'),
  instantiationLevelId: z.string().min(1).optional().describe('Instantiation level; the VNFD default when absent.'),
  vimId: z.string().min(1).describe('Tacker VIM of type kubernetes (vimConnectionInfo vimType ETSINFV.KUBERNETES.V_1) for the cluster this orchestrator manages; its credentials stay in Tacker.'),
  vduId: z.string().min(1).describe('The VDU whose `properties.name` is the microservice name (the Deployment); its pods are counted.'),
  scalingAspectId: z.string().min(1).optional().describe('Scaling aspect of that VDU, one pod per step; required when replicas is not 1.'),
});

const containerSchema = z
  .strictObject({
    ...commonFields,
    kind: z.literal('container').describe('Runs as a Deployment.'),
    image: z.string().min(1).describe('Container image reference.'),
    replicas: z.number().int().min(0).default(1).describe('Pod count of the Deployment.'),
    env: z
      .record(z.string().regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/, 'must be an environment variable name'), z.union([z.string(), secretKeyRefSchema]))
      .default({})
      .describe('Environment variables: a plain value, or a secretKeyRef for anything secret.'),
    resources: z
      .strictObject({ requests: resourceListSchema.optional().describe('What the scheduler reserves.'), limits: resourceListSchema.optional().describe('The most the container may use.') })
      .optional()
      .describe('Container resource requests and limits.'),
    via: z
      .enum(CONTAINER_PATHS)
      .default('kubernetes')
      .describe('Who creates the Deployment: the orchestrator through the Kubernetes API (kubernetes), or Tacker as a CNF through its v2 API and a Kubernetes VIM (tacker, needs `tacker`).'),
    tacker: cnfSettingsSchema.optional().describe('The CNF package and VIM; required with `via: tacker`, not allowed otherwise.'),
  })
  .describe('A microservice run as a Kubernetes Deployment in the sidecar-injected namespace.');

const meshLayer = meshParametersLayerSchema.shape;

const vmSchema = z
  .strictObject({
    ...commonFields,
    kind: z.literal('vm').describe('Runs as VMs created by Tacker.'),
    vnfdId: z.string().min(1).describe('Tacker VNFD ID of the VNF package.'),
    flavourId: z.string().min(1).describe('Deployment flavour of the VNFD (InstantiateVnfRequest.flavourId).'),
    instantiationLevelId: z.string().min(1).optional().describe('Instantiation level (InstantiateVnfRequest.instantiationLevelId); the VNFD default when absent.'),
    instances: z.number().int().min(1).default(1).describe('Desired VM count; changes become Tacker scale operations.'),
    scalingAspectId: z.string().min(1).optional().describe('Scaling aspect used to add or remove VMs; required when instances is not 1.'),
    additionalParams: z
      .record(z.string(), z.unknown())
      .default({})
      .describe('Passed to Tacker Instantiate as additionalParams. Must not contain meshSidecar (the orchestrator writes it) nor anything secret.'),
    ssh: meshLayer.ssh.describe('How the injector reaches the VM: user, port, privateKeySecret (a secret name, never a key), hostKey.'),
    network: meshLayer.network.describe('Istio network of the VMs; empty or absent for a single network.'),
    probe: meshLayer.probe.describe('WorkloadGroup readiness probe, as Istio defines it.'),
    vdus: meshLayer.vdus.describe('VDUs whose VMs join the mesh; every VDU when absent.'),
  })
  .describe('A microservice run as VMs that Tacker creates and the injector puts into the mesh.');

const microserviceSchema = z.discriminatedUnion('kind', [containerSchema, vmSchema]);

const headerMatchSchema = z
  .union([
    z.strictObject({ exact: z.string().describe('The whole value.') }),
    z.strictObject({ prefix: z.string().describe('The start of the value.') }),
    z.strictObject({ regex: z.string().describe('RE2 syntax.') }),
  ])
  .describe('One of exact, prefix or regex.');

const matchSchema = z
  .strictObject({
    headers: z
      .record(z.string().regex(/^[a-z0-9][-a-z0-9_.]*$/, 'must be a lowercase header name'), headerMatchSchema)
      .refine((headers) => Object.keys(headers).length > 0, 'needs at least one header')
      .describe('Every header must match.'),
    version: dnsLabelSchema.describe('Version of the target service that matching requests go to.'),
  })
  .describe('An A/B route, evaluated before the split.');

const connectionPoolSchema = z
  .strictObject({
    tcp: z
      .strictObject({
        maxConnections: z.number().int().min(1).optional().describe('Most TCP connections to the port.'),
        connectTimeout: istioDuration.optional().describe('TCP connect timeout.'),
      })
      .optional()
      .describe('TCP and HTTP connections.'),
    http: z
      .strictObject({
        http1MaxPendingRequests: z.number().int().min(1).optional().describe('Most requests waiting for a connection.'),
        http2MaxRequests: z.number().int().min(1).optional().describe('Most requests in flight.'),
        maxRequestsPerConnection: z.number().int().min(0).optional().describe('Requests per connection before it is closed; 0 means unlimited.'),
        maxRetries: z.number().int().min(0).optional().describe('Most retries in flight at once.'),
        idleTimeout: istioDuration.optional().describe('Closes connections idle this long.'),
      })
      .optional()
      .describe('HTTP connections only.'),
  })
  .describe("Istio DestinationRule connectionPool for the target's port.");

const outlierDetectionSchema = z
  .strictObject({
    consecutive5xxErrors: z.number().int().min(0).optional().describe('5xx answers (or connection errors for TCP) in a row that eject an endpoint.'),
    consecutiveGatewayErrors: z.number().int().min(0).optional().describe('502, 503 or 504 answers in a row that eject an endpoint.'),
    interval: istioDuration.optional().describe('How often endpoints are judged.'),
    baseEjectionTime: istioDuration.optional().describe('Minimum ejection time, multiplied by the number of ejections.'),
    maxEjectionPercent: z.number().int().min(0).max(100).optional().describe('Most endpoints ejected at once, in percent.'),
  })
  .describe("Istio DestinationRule outlierDetection for the target's port.");

const connectionSchema = z
  .strictObject({
    from: dnsLabelSchema.describe('Calling service (a service name: every version and VM of it calls alike).'),
    to: dnsLabelSchema.describe('Called service (a service name).'),
    port: portNumber.optional().describe('Port of the target service; may be left out when the target has one port.'),
    timeout: istioDuration.optional().describe('HTTP request timeout.'),
    retries: z
      .strictObject({
        attempts: z.number().int().min(0).describe('Retries after the first try.'),
        perTryTimeout: istioDuration.optional().describe('Timeout of each try.'),
        retryOn: z.string().min(1).optional().describe('Envoy retry conditions, e.g. 5xx,reset,connect-failure.'),
      })
      .optional()
      .describe('HTTP retries.'),
    split: z
      .record(dnsLabelSchema, z.number().int().min(0).max(100))
      .optional()
      .describe('Versions of the target → integer percent, summing to 100. Absent: every version, balanced by instance count.'),
    match: z.array(matchSchema).min(1).optional().describe('HTTP A/B routes by request header, evaluated in order before the split.'),
    fault: z
      .strictObject({
        delay: z
          .strictObject({ fixedDelay: istioDuration.describe('Added before forwarding.'), percent: percent.describe('Share of requests delayed.') })
          .optional()
          .describe('Delays requests.'),
        abort: z
          .strictObject({ httpStatus: z.number().int().min(200).max(599).describe('Status answered instead.'), percent: percent.describe('Share of requests aborted.') })
          .optional()
          .describe('Answers requests with an error instead of forwarding them.'),
      })
      .optional()
      .describe('HTTP fault injection, for testing.'),
    mtls: z.enum(['STRICT', 'PERMISSIVE']).default('STRICT').describe("PeerAuthentication mode of the target's port."),
    allowedCallers: z
      .array(
        z.strictObject({
          namespace: dnsLabelSchema.describe('Namespace of the caller.'),
          serviceAccount: z.string().min(1).max(253).describe('Service account of the caller.'),
        }),
      )
      .default([])
      .describe('Further identities allowed on this port besides `from`, e.g. an ingress gateway.'),
    connectionPool: connectionPoolSchema.optional(),
    outlierDetection: outlierDetectionSchema.optional(),
  })
  .describe('One caller → target relation: what may call what, and how the call is routed.');

export const serviceDescriptorSchema = z
  .strictObject({
    apiVersion: z.literal(SERVICE_DESCRIPTOR_API_VERSION).describe('Format version.'),
    kind: z.literal(SERVICE_DESCRIPTOR_KIND).describe('Always MeshService.'),
    metadata: z.strictObject({
      name: dnsLabelSchema.describe('Application name; value of the vmsi.dev/service label on everything deployed.'),
      namespace: dnsLabelSchema.optional().describe('Kubernetes namespace; defaults to name.'),
    })
      .describe('Identity of the application.'),
    spec: z.strictObject({
      istioRevision: dnsLabelSchema
        .optional()
        .describe('Label the namespace istio.io/rev=<revision> instead of istio-injection=enabled.'),
      microservices: z.array(microserviceSchema).min(1).describe('Every microservice, VM or container.'),
      connections: z.array(connectionSchema).default([]).describe('Who may call whom, and how calls are routed.'),
    })
      .describe('What to deploy.'),
  })
  .describe('vm-sidecar-injector service descriptor: microservices and the connections between them.');

type RawDescriptor = z.output<typeof serviceDescriptorSchema>;
type RawMicroservice = z.output<typeof microserviceSchema>;
type RawConnection = z.output<typeof connectionSchema>;

export type ServicePort = z.output<typeof portSchema>;
export type ContainerMicroservice = z.output<typeof containerSchema> & { service: string };
export type CnfSettings = z.output<typeof cnfSettingsSchema>;
/** A container microservice that Tacker runs as a CNF. */
export type CnfMicroservice = ContainerMicroservice & { via: 'tacker'; tacker: CnfSettings };
export type VmMicroservice = z.output<typeof vmSchema> & { service: string };
export type Microservice = ContainerMicroservice | VmMicroservice;
/** What the orchestrator creates through Tacker: a VNF of VMs or a CNF. */
export type TackerMicroservice = VmMicroservice | CnfMicroservice;
export type Connection = Omit<RawConnection, 'port'> & { port: number };
export type ServiceDescriptorInput = z.input<typeof serviceDescriptorSchema>;

/** A parsed descriptor with every default filled in: namespace, each microservice's service, each connection's port. */
export interface ServiceDescriptor {
  apiVersion: typeof SERVICE_DESCRIPTOR_API_VERSION;
  kind: typeof SERVICE_DESCRIPTOR_KIND;
  metadata: { name: string; namespace: string };
  spec: { istioRevision?: string; microservices: Microservice[]; connections: Connection[] };
}

/** A logical service: the microservices (versions) that share it. */
export interface MeshServiceModel {
  name: string;
  ports: ServicePort[];
  versions: string[];
  microservices: Microservice[];
}

/**
 * Parses YAML text or an already-parsed object. Throws one INVALID_SPEC error whose `problems`
 * list every schema and cross-reference problem found.
 */
export function parseServiceDescriptor(input: unknown): ServiceDescriptor {
  const raw = typeof input === 'string' ? parseYamlText(input) : input;
  const parsed = serviceDescriptorSchema.safeParse(raw);
  const problems = parsed.success ? crossReferenceProblems(parsed.data) : [...formatZodProblems(parsed.error), ...salvagedProblems(raw)];
  if (problems.length > 0 || !parsed.success) {
    throw new AppError('INVALID_SPEC', 'The service descriptor is invalid.', { problems, details: { problems } });
  }
  return normalized(parsed.data);
}

function parseYamlText(text: string): unknown {
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length === 0) return document.toJS() as unknown;
  const problems = document.errors.map((error) => ({ path: '(root)', message: error.message }));
  throw new AppError('INVALID_SPEC', 'The service descriptor is not valid YAML.', { problems, details: { problems } });
}

/**
 * When the schema fails, the cross-reference checks still run on what did parse, so one answer
 * lists everything. They run only if every microservice parsed: a connection to a microservice
 * that failed for another reason would otherwise be reported as an unknown reference.
 */
function salvagedProblems(raw: unknown): FieldProblem[] {
  const spec = isRecord(raw) && isRecord(raw.spec) ? raw.spec : undefined;
  const microservices = z.array(microserviceSchema).min(1).safeParse(spec?.microservices);
  if (!microservices.success) return [];
  const connections = Array.isArray(spec?.connections) ? spec.connections : [];
  const parsedConnections = connections.map((connection) => connectionSchema.safeParse(connection));
  const problems = descriptorProblems(microservices.data, parsedConnections.map((result) => (result.success ? result.data : undefined)));
  return problems;
}

function crossReferenceProblems(descriptor: RawDescriptor): FieldProblem[] {
  return descriptorProblems(descriptor.spec.microservices, descriptor.spec.connections);
}

function normalized(descriptor: RawDescriptor): ServiceDescriptor {
  const microservices = descriptor.spec.microservices.map((microservice) => ({ ...microservice, service: serviceName(microservice) }));
  const services = modelServices(microservices);
  const connections = descriptor.spec.connections.map((connection) => ({ ...connection, port: connection.port ?? onlyPort(services.get(connection.to)) ?? 0 }));
  const spec: ServiceDescriptor['spec'] = { microservices, connections };
  if (descriptor.spec.istioRevision !== undefined) spec.istioRevision = descriptor.spec.istioRevision;
  return {
    apiVersion: descriptor.apiVersion,
    kind: descriptor.kind,
    metadata: { name: descriptor.metadata.name, namespace: descriptor.metadata.namespace ?? descriptor.metadata.name },
    spec,
  };
}

function serviceName(microservice: RawMicroservice): string {
  return microservice.service ?? microservice.name;
}

function onlyPort(service: MeshServiceModel | undefined): number | undefined {
  return service?.ports.length === 1 ? service.ports[0]?.port : undefined;
}

/** The logical services, sorted by name; ports and versions sorted. Ports come from the first microservice. */
export function servicesOf(descriptor: ServiceDescriptor): Map<string, MeshServiceModel> {
  return modelServices(descriptor.spec.microservices);
}

function modelServices(microservices: Microservice[]): Map<string, MeshServiceModel> {
  const services = new Map<string, MeshServiceModel>();
  for (const microservice of [...microservices].sort((a, b) => compareText(a.name, b.name))) {
    const service = services.get(microservice.service) ?? { name: microservice.service, ports: sortedPorts(microservice.ports), versions: [], microservices: [] };
    service.microservices.push(microservice);
    if (!service.versions.includes(microservice.version)) service.versions.push(microservice.version);
    services.set(service.name, service);
  }
  for (const service of services.values()) service.versions.sort(compareText);
  return new Map([...services].sort(([a], [b]) => compareText(a, b)));
}

function sortedPorts(ports: ServicePort[]): ServicePort[] {
  return [...ports].sort((a, b) => a.port - b.port);
}

export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---- cross-reference checks: each returns the problems of one rule ----

type MaybeConnection = RawConnection | undefined;

function descriptorProblems(rawMicroservices: RawMicroservice[], connections: MaybeConnection[]): FieldProblem[] {
  const microservices = rawMicroservices.map((microservice) => ({ ...microservice, service: serviceName(microservice) }));
  const services = modelServices(microservices);
  return [
    ...duplicateNameProblems(microservices),
    ...duplicateVersionProblems(microservices),
    ...portAgreementProblems(microservices),
    ...microservices.flatMap((microservice, index) => microserviceProblems(microservice, `spec.microservices.${index}`)),
    ...connections.flatMap((connection, index) => (connection === undefined ? [] : connectionProblems(connection, `spec.connections.${index}`, services))),
    ...duplicateConnectionProblems(connections, services),
    ...perTargetPortConflicts(connections, services),
  ];
}

function duplicateNameProblems(microservices: Microservice[]): FieldProblem[] {
  const seen = new Set<string>();
  return microservices.flatMap((microservice, index) => {
    if (!seen.has(microservice.name)) {
      seen.add(microservice.name);
      return [];
    }
    return [{ path: `spec.microservices.${index}.name`, message: `duplicate microservice name ${microservice.name}` }];
  });
}

function duplicateVersionProblems(microservices: Microservice[]): FieldProblem[] {
  const owners = new Map<string, string>();
  return microservices.flatMap((microservice, index) => {
    const key = `${microservice.service}\u0000${microservice.version}`;
    const owner = owners.get(key);
    if (owner === undefined) {
      owners.set(key, microservice.name);
      return [];
    }
    if (owner === microservice.name) return [];
    const message = `service ${microservice.service} already has version ${microservice.version} (microservice ${owner}); each version of a service needs its own label`;
    return [{ path: `spec.microservices.${index}.version`, message }];
  });
}

/** One Service carries the ports for every version, so the versions must agree on them; the first one listed sets them. */
function portAgreementProblems(microservices: Microservice[]): FieldProblem[] {
  const problems: FieldProblem[] = microservices.flatMap((microservice, index) => duplicatePortProblems(microservice.ports, `spec.microservices.${index}.ports`));
  const firsts = new Map<string, Microservice>();
  microservices.forEach((microservice, index) => {
    const first = firsts.get(microservice.service);
    if (first === undefined) firsts.set(microservice.service, microservice);
    if (first === undefined || isDeepStrictEqual(sortedPorts(microservice.ports), sortedPorts(first.ports))) return;
    problems.push({
      path: `spec.microservices.${index}.ports`,
      message: `differ from the ports of microservice ${first.name} of the same service ${microservice.service} (${describePorts(sortedPorts(first.ports))}); one Service serves every version`,
    });
  });
  return problems;
}

function duplicatePortProblems(ports: ServicePort[], path: string): FieldProblem[] {
  const names = new Set<string>();
  const numbers = new Set<number>();
  return ports.flatMap((port, index) => {
    const problems: FieldProblem[] = [];
    if (names.has(port.name)) problems.push({ path: `${path}.${index}.name`, message: `duplicate port name ${port.name}` });
    if (numbers.has(port.port)) problems.push({ path: `${path}.${index}.port`, message: `duplicate port ${port.port}` });
    names.add(port.name);
    numbers.add(port.port);
    return problems;
  });
}

function describePorts(ports: ServicePort[]): string {
  return ports.map((port) => `${port.name} ${port.port}/${port.protocol}`).join(', ');
}

function microserviceProblems(microservice: Microservice, path: string): FieldProblem[] {
  if (microservice.kind === 'container') return [...envSecretProblems(microservice.env, `${path}.env`), ...containerPathProblems(microservice, path)];
  const problems: FieldProblem[] = [];
  if (Object.hasOwn(microservice.additionalParams, MESH_PARAMETERS_KEY)) {
    problems.push({ path: `${path}.additionalParams.${MESH_PARAMETERS_KEY}`, message: 'is written by the orchestrator from the descriptor; remove it' });
  }
  problems.push(...secretProblems(microservice.additionalParams, `${path}.additionalParams`));
  if (microservice.instances !== 1 && microservice.scalingAspectId === undefined) {
    problems.push({ path: `${path}.scalingAspectId`, message: 'is required when instances is not 1: VMs are added and removed with Tacker scale on this aspect' });
  }
  return problems;
}

function containerPathProblems(microservice: ContainerMicroservice, path: string): FieldProblem[] {
  if (microservice.via === 'kubernetes') {
    return microservice.tacker === undefined ? [] : [{ path: `${path}.tacker`, message: 'is used only with via: tacker; remove it or set via: tacker' }];
  }
  if (microservice.tacker === undefined) return [{ path: `${path}.tacker`, message: 'is required with via: tacker: the CNF package (vnfdId, flavourId, vduId) and the Kubernetes VIM (vimId)' }];
  const problems: FieldProblem[] = [];
  // Tacker instantiates at least the VDU's minimum; a CNF of no pods is terminated, not scaled to zero.
  if (microservice.replicas < 1) problems.push({ path: `${path}.replicas`, message: 'must be at least 1 with via: tacker; tear the service down to remove every pod' });
  if (microservice.replicas !== 1 && microservice.tacker.scalingAspectId === undefined) {
    problems.push({ path: `${path}.tacker.scalingAspectId`, message: 'is required when replicas is not 1: pods are added and removed with Tacker scale on this aspect' });
  }
  return problems;
}

const ENV_SECRET_MESSAGE = 'looks like a secret: the descriptor is stored and shown in plans; use { secretKeyRef: { name, key } } instead';

function envSecretProblems(env: ContainerMicroservice['env'], path: string): FieldProblem[] {
  return Object.entries(env).flatMap(([name, value]) => {
    if (typeof value !== 'string') return [];
    return secretProblems({ [name]: value }, path).map((problem) => ({ path: problem.path, message: ENV_SECRET_MESSAGE }));
  });
}

function connectionProblems(connection: RawConnection, path: string, services: Map<string, MeshServiceModel>): FieldProblem[] {
  const problems = [...referenceProblems(connection.from, `${path}.from`, services)];
  const target = services.get(connection.to);
  if (target === undefined) return [...problems, ...referenceProblems(connection.to, `${path}.to`, services)];
  const port = targetPort(connection, target);
  if (typeof port === 'string') return [...problems, { path: `${path}.port`, message: port }];
  return [...problems, ...versionProblems(connection, path, target), ...protocolProblems(connection, path, port)];
}

function referenceProblems(name: string, path: string, services: Map<string, MeshServiceModel>): FieldProblem[] {
  if (services.has(name)) return [];
  const known = [...services.keys()].join(', ');
  const owner = [...services.values()].find((service) => service.microservices.some((microservice) => microservice.name === name));
  const hint = owner === undefined ? '' : ` (${name} is a microservice of service ${owner.name}; connections name services)`;
  return [{ path, message: `unknown service ${name}${hint}; services are ${known}` }];
}

/** The target's port, or why there is none. */
function targetPort(connection: RawConnection, target: MeshServiceModel): ServicePort | string {
  const ports = describePorts(target.ports);
  if (connection.port === undefined) {
    return target.ports.length === 1 && target.ports[0] !== undefined ? target.ports[0] : `is required: service ${target.name} has several ports (${ports})`;
  }
  return target.ports.find((port) => port.port === connection.port) ?? `${connection.port} is not a port of service ${target.name} (${ports})`;
}

function versionProblems(connection: RawConnection, path: string, target: MeshServiceModel): FieldProblem[] {
  const unknown = (version: string, at: string): FieldProblem[] =>
    target.versions.includes(version) ? [] : [{ path: at, message: `service ${target.name} has no version ${version} (versions: ${target.versions.join(', ')})` }];
  const problems = (connection.match ?? []).flatMap((match, index) => unknown(match.version, `${path}.match.${index}.version`));
  if (connection.split === undefined) return problems;
  problems.push(...Object.keys(connection.split).flatMap((version) => unknown(version, `${path}.split.${version}`)));
  const total = Object.values(connection.split).reduce((sum, weight) => sum + weight, 0);
  if (total !== 100) problems.push({ path: `${path}.split`, message: `weights add up to ${total}; they must add up to 100` });
  return problems;
}

const HTTP_ONLY_FIELDS = ['timeout', 'retries', 'match', 'fault'] as const;

function protocolProblems(connection: RawConnection, path: string, port: ServicePort): FieldProblem[] {
  if (isHttpProtocol(port.protocol)) return [];
  const message = `is HTTP-only, but port ${port.port} (${port.name}) is ${port.protocol}`;
  const problems = HTTP_ONLY_FIELDS.filter((field) => connection[field] !== undefined).map((field) => ({ path: `${path}.${field}`, message }));
  if (connection.connectionPool?.http !== undefined) problems.push({ path: `${path}.connectionPool.http`, message });
  return problems;
}

function resolvedPort(connection: RawConnection, services: Map<string, MeshServiceModel>): number | undefined {
  const target = services.get(connection.to);
  if (target === undefined) return undefined;
  const port = targetPort(connection, target);
  return typeof port === 'string' ? undefined : port.port;
}

function duplicateConnectionProblems(connections: MaybeConnection[], services: Map<string, MeshServiceModel>): FieldProblem[] {
  const seen = new Map<string, number>();
  return connections.flatMap((connection, index) => {
    const port = connection === undefined ? undefined : resolvedPort(connection, services);
    if (connection === undefined || port === undefined) return [];
    const key = `${connection.from}→${connection.to}:${port}`;
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, index);
      return [];
    }
    return [{ path: `spec.connections.${index}`, message: `repeats spec.connections.${first} (${connection.from} → ${connection.to} port ${port}); merge them` }];
  });
}

/** Settings that belong to the target's port, not to one caller: every connection to that port must agree. */
const PER_PORT_FIELDS = ['mtls', 'connectionPool', 'outlierDetection'] as const;

function perTargetPortConflicts(connections: MaybeConnection[], services: Map<string, MeshServiceModel>): FieldProblem[] {
  const firsts = new Map<string, { index: number; connection: RawConnection }>();
  const problems: FieldProblem[] = [];
  connections.forEach((connection, index) => {
    const port = connection === undefined ? undefined : resolvedPort(connection, services);
    if (connection === undefined || port === undefined) return;
    const key = `${connection.to}:${port}`;
    const first = firsts.get(key);
    if (first === undefined) firsts.set(key, { index, connection });
    else problems.push(...conflictsWith(first, { index, connection }, port));
  });
  return problems;
}

function conflictsWith(first: { index: number; connection: RawConnection }, other: { index: number; connection: RawConnection }, port: number): FieldProblem[] {
  return PER_PORT_FIELDS.filter((field) => !isDeepStrictEqual(first.connection[field], other.connection[field])).map((field) => ({
    path: `spec.connections.${other.index}.${field}`,
    message: `conflicts with spec.connections.${first.index}: ${field} applies to every caller of ${other.connection.to} port ${port}, so all its connections must agree`,
  }));
}

/**
 * The `meshSidecar` parameters for a VM microservice's VMs: the injector puts each VM into the
 * WorkloadGroup named after the microservice, with the service's identity and the labels the
 * Service, subsets and policies select on. Accepted by the injector's own schema (mesh-parameters.ts).
 */
export function meshSidecarParameters(descriptor: ServiceDescriptor, microservice: VmMicroservice): MeshParameters {
  const params: MeshParameters = {
    namespace: descriptor.metadata.namespace,
    workloadGroup: microservice.name,
    serviceAccount: microservice.service,
    labels: workloadLabelsOf(microservice),
    ports: Object.fromEntries(sortedPorts(microservice.ports).map((port) => [port.name, port.port])),
  };
  if (microservice.network !== undefined) params.network = microservice.network;
  if (microservice.vdus !== undefined) params.vdus = microservice.vdus;
  if (microservice.ssh !== undefined) params.ssh = microservice.ssh;
  if (microservice.probe !== undefined) params.probe = microservice.probe;
  return params;
}

export function vmMicroservicesOf(descriptor: ServiceDescriptor): VmMicroservice[] {
  return descriptor.spec.microservices.filter((microservice): microservice is VmMicroservice => microservice.kind === 'vm');
}

export function isCnf(microservice: Microservice): microservice is CnfMicroservice {
  return microservice.kind === 'container' && microservice.via === 'tacker' && microservice.tacker !== undefined;
}

/** VM microservices and CNFs, in descriptor order: everything the orchestrator asks Tacker for. */
export function tackerMicroservicesOf(descriptor: ServiceDescriptor): TackerMicroservice[] {
  return descriptor.spec.microservices.filter((microservice): microservice is TackerMicroservice => microservice.kind === 'vm' || isCnf(microservice));
}

/** The labels every pod and VM of a microservice carries; Services select `app`, subsets `version`. */
export function workloadLabelsOf(microservice: Microservice): Record<string, string> {
  return { app: microservice.service, version: microservice.version };
}

/** The VNF instance name is `<descriptor>-<microservice>`, so the engine can find its instance again. */
export function vnfInstanceNameOf(descriptor: ServiceDescriptor, microservice: TackerMicroservice): string {
  return `${descriptor.metadata.name}-${microservice.name}`;
}
