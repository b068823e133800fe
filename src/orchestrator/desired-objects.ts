import { injectionSpecSchema, type InjectionSpec } from '../injection-spec.js';
import { ISTIO_NETWORKING_API_VERSION, MANAGED_BY, MANAGED_BY_LABEL, buildWorkloadGroup } from '../mesh/workload-objects.js';
import type { KubeObject, KubeObjectMetadata } from './kube-object.js';
import {
  compareText,
  isCnf,
  isHttpProtocol,
  meshSidecarParameters,
  servicesOf,
  workloadLabelsOf,
  type CnfMicroservice,
  type Connection,
  type ContainerMicroservice,
  type MeshServiceModel,
  type ServiceDescriptor,
  type ServicePort,
  type VmMicroservice,
} from './service-descriptor.js';

/**
 * Every Kubernetes and Istio object a service descriptor implies, computed without I/O. The same
 * descriptor always yields the same objects in the same order, so plans and golden files are stable.
 */

/** Carried by everything the orchestrator deploys for a descriptor; its value is the descriptor's name. */
export const SERVICE_LABEL = 'vmsi.dev/service';
export const ISTIO_SECURITY_API_VERSION = 'security.istio.io/v1';
export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

export interface DesiredObjectsOptions {
  /** Trust domain of the mesh, for AuthorizationPolicy principals; default cluster.local. */
  trustDomain?: string | undefined;
}

/**
 * Apply order: the namespace and identities first, workloads next, then traffic rules. Destination
 * rules precede virtual services because a route to a subset that does not exist yet fails
 * requests (Istio's "make before break" advice).
 */
export const KIND_ORDER = [
  'Namespace',
  'ServiceAccount',
  'Service',
  'Deployment',
  'WorkloadGroup',
  'DestinationRule',
  'VirtualService',
  'PeerAuthentication',
  'AuthorizationPolicy',
] as const;

export function desiredObjects(descriptor: ServiceDescriptor, options: DesiredObjectsOptions = {}): KubeObject[] {
  const context: BuildContext = { descriptor, trustDomain: options.trustDomain ?? DEFAULT_TRUST_DOMAIN, services: servicesOf(descriptor) };
  const objects: KubeObject[] = [namespaceObject(context)];
  for (const service of context.services.values()) objects.push(serviceAccountObject(context, service), serviceObject(context, service));
  for (const microservice of descriptor.spec.microservices) {
    // A CNF's Deployment is Tacker's: it comes from the CNF package (cnfPackageFiles), not from here.
    if (isCnf(microservice)) continue;
    objects.push(microservice.kind === 'container' ? deploymentObject(context, microservice) : workloadGroupObject(context, microservice));
  }
  for (const [target, connections] of connectionsByTarget(descriptor.spec.connections)) {
    const service = context.services.get(target);
    if (service !== undefined) objects.push(...trafficObjects(context, service, connections));
  }
  // Copies, so that no two places in the result share an object a caller might change.
  return objects.sort(compareObjects).map((object) => structuredClone(object));
}

interface BuildContext {
  descriptor: ServiceDescriptor;
  trustDomain: string;
  services: Map<string, MeshServiceModel>;
}

function compareObjects(a: KubeObject, b: KubeObject): number {
  const rank = (object: KubeObject): number => KIND_ORDER.indexOf(object.kind as (typeof KIND_ORDER)[number]);
  return rank(a) - rank(b) || compareText(a.metadata.name, b.metadata.name);
}

function commonLabels(context: BuildContext): Record<string, string> {
  return { [MANAGED_BY_LABEL]: MANAGED_BY, [SERVICE_LABEL]: context.descriptor.metadata.name };
}

function metadata(context: BuildContext, name: string, labels: Record<string, string> = {}): KubeObjectMetadata {
  return { name, namespace: context.descriptor.metadata.namespace, labels: sortedRecord({ ...labels, ...commonLabels(context) }) };
}

export function serviceHost(context: { descriptor: ServiceDescriptor }, service: string): string {
  return `${service}.${context.descriptor.metadata.namespace}.svc.cluster.local`;
}

function namespaceObject(context: BuildContext): KubeObject {
  const revision = context.descriptor.spec.istioRevision;
  // A namespace must not carry both: istio-injection wins over istio.io/rev in the injector webhooks.
  const injection: Record<string, string> = revision === undefined ? { 'istio-injection': 'enabled' } : { 'istio.io/rev': revision };
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: context.descriptor.metadata.namespace, labels: sortedRecord({ ...injection, ...commonLabels(context) }) },
  };
}

/** One identity per service: its pods and its VMs (WorkloadGroup template) share it, so policies name the service once. */
function serviceAccountObject(context: BuildContext, service: MeshServiceModel): KubeObject {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: metadata(context, service.name) };
}

/**
 * One Service per logical service, selecting `app` only: it selects the pods of every version and,
 * through istiod, the WorkloadEntries of the VMs. Port names equal the WorkloadGroup's port names,
 * which is how Istio maps a Service port to a VM's port; appProtocol tells Istio the protocol.
 */
function serviceObject(context: BuildContext, service: MeshServiceModel): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(context, service.name, { app: service.name }),
    spec: {
      selector: { app: service.name },
      ports: service.ports.map((port) => ({ name: port.name, port: port.port, appProtocol: port.protocol.toLowerCase() })),
    },
  };
}

function deploymentObject(context: BuildContext, microservice: ContainerMicroservice): KubeObject {
  const labels = workloadLabelsOf(microservice);
  const container: Record<string, unknown> = {
    name: microservice.name,
    image: microservice.image,
    ports: [...microservice.ports].sort((a, b) => a.port - b.port).map((port) => ({ name: port.name, containerPort: port.port })),
  };
  const env = Object.entries(microservice.env).sort(([a], [b]) => compareText(a, b));
  if (env.length > 0) container.env = env.map(([name, value]) => (typeof value === 'string' ? { name, value } : { name, valueFrom: value }));
  if (microservice.resources !== undefined) container.resources = microservice.resources;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: metadata(context, microservice.name, labels),
    spec: {
      replicas: microservice.replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { serviceAccountName: microservice.service, containers: [container] },
      },
    },
  };
}

/**
 * The Deployment a CNF's package must hold, as the direct path would apply it but without the
 * managed-by label: Tacker creates and deletes it, so the orchestrator's plan and teardown never
 * count it as theirs, while the service label still lets status and readiness find it.
 */
export function cnfDeploymentManifest(descriptor: ServiceDescriptor, microservice: CnfMicroservice): KubeObject {
  const deployment = deploymentObject({ descriptor, trustDomain: DEFAULT_TRUST_DOMAIN, services: servicesOf(descriptor) }, microservice);
  const { [MANAGED_BY_LABEL]: _managedBy, ...labels } = deployment.metadata.labels ?? {};
  return { ...deployment, metadata: { ...deployment.metadata, labels } };
}

/**
 * Built by the injector's own builder from the same meshSidecar parameters the VMs are
 * instantiated with, so the group the orchestrator applies is the one the injector would create.
 */
function workloadGroupObject(context: BuildContext, microservice: VmMicroservice): KubeObject {
  const { vdus: _vdus, ssh: _ssh, ...params } = meshSidecarParameters(context.descriptor, microservice);
  // buildWorkloadGroup reads only the spec's mesh section; a VM address and package do not exist yet.
  const group = buildWorkloadGroup({ mesh: injectionSpecSchema.shape.mesh.parse(params) } as InjectionSpec);
  return { ...group, metadata: { ...group.metadata, labels: sortedRecord({ ...group.metadata.labels, ...commonLabels(context) }) } };
}

function connectionsByTarget(connections: Connection[]): Map<string, Connection[]> {
  const byTarget = new Map<string, Connection[]>();
  for (const connection of connections) byTarget.set(connection.to, [...(byTarget.get(connection.to) ?? []), connection]);
  for (const list of byTarget.values()) list.sort((a, b) => compareText(a.from, b.from) || a.port - b.port);
  return new Map([...byTarget].sort(([a], [b]) => compareText(a, b)));
}

/** Istio allows one VirtualService and one DestinationRule per host, so every caller's rules for a target are merged. */
function trafficObjects(context: BuildContext, service: MeshServiceModel, connections: Connection[]): KubeObject[] {
  return [
    virtualServiceObject(context, service, connections),
    destinationRuleObject(context, service, connections),
    peerAuthenticationObject(context, service, connections),
    authorizationPolicyObject(context, service, connections),
  ];
}

function portOf(service: MeshServiceModel, number: number): ServicePort {
  const port = service.ports.find((candidate) => candidate.port === number);
  if (port === undefined) throw new Error(`service ${service.name} has no port ${number}; the descriptor was not validated`);
  return port;
}

/**
 * Routes are scoped to their caller with sourceLabels and to the port. The routes without a match
 * at the end keep requests from anyone else (allowedCallers in other namespaces) routed as if there
 * were no VirtualService, instead of failing with "no route".
 */
function virtualServiceObject(context: BuildContext, service: MeshServiceModel, connections: Connection[]): KubeObject {
  const host = serviceHost(context, service.name);
  const httpConnections = connections.filter((connection) => isHttpProtocol(portOf(service, connection.port).protocol));
  const tcpConnections = connections.filter((connection) => !httpConnections.includes(connection));
  const spec: Record<string, unknown> = { hosts: [host] };
  if (httpConnections.length > 0) spec.http = [...httpConnections.flatMap((connection) => httpRoutes(host, connection)), { name: 'default', route: [{ destination: { host } }] }];
  if (tcpConnections.length > 0) spec.tcp = [...tcpConnections.map((connection) => tcpRoute(host, connection)), { route: [{ destination: { host } }] }];
  return { apiVersion: ISTIO_NETWORKING_API_VERSION, kind: 'VirtualService', metadata: metadata(context, service.name), spec };
}

function callerMatch(connection: Connection): Record<string, unknown> {
  return { port: connection.port, sourceLabels: { app: connection.from } };
}

function weightedDestinations(host: string, connection: Connection): Record<string, unknown>[] {
  const port = { number: connection.port };
  if (connection.split === undefined) return [{ destination: { host, port } }];
  return Object.entries(connection.split)
    .sort(([a], [b]) => compareText(a, b))
    .map(([version, weight]) => ({ destination: { host, subset: version, port }, weight }));
}

function httpRoutes(host: string, connection: Connection): Record<string, unknown>[] {
  const name = `${connection.from}-${connection.port}`;
  const policy = httpPolicy(connection);
  const abRoutes = (connection.match ?? []).map((match, index) => ({
    name: `${name}-match-${index}`,
    match: [{ ...callerMatch(connection), headers: sortedRecord(match.headers) }],
    route: [{ destination: { host, subset: match.version, port: { number: connection.port } } }],
    ...policy,
  }));
  return [...abRoutes, { name, match: [callerMatch(connection)], route: weightedDestinations(host, connection), ...policy }];
}

function httpPolicy(connection: Connection): Record<string, unknown> {
  const policy: Record<string, unknown> = {};
  if (connection.timeout !== undefined) policy.timeout = connection.timeout;
  if (connection.retries !== undefined) policy.retries = connection.retries;
  if (connection.fault !== undefined) policy.fault = istioFault(connection.fault);
  return policy;
}

function istioFault(fault: NonNullable<Connection['fault']>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (fault.delay !== undefined) out.delay = { fixedDelay: fault.delay.fixedDelay, percentage: { value: fault.delay.percent } };
  if (fault.abort !== undefined) out.abort = { httpStatus: fault.abort.httpStatus, percentage: { value: fault.abort.percent } };
  return out;
}

/** TLS ports are routed like TCP: the mesh sees them as opaque, and tcp routes need no SNI match. */
function tcpRoute(host: string, connection: Connection): Record<string, unknown> {
  return { match: [callerMatch(connection)], route: weightedDestinations(host, connection) };
}

function destinationRuleObject(context: BuildContext, service: MeshServiceModel, connections: Connection[]): KubeObject {
  const trafficPolicy: Record<string, unknown> = { tls: { mode: 'ISTIO_MUTUAL' } };
  const portLevelSettings = perPort(connections)
    .filter(([, connection]) => connection.connectionPool !== undefined || connection.outlierDetection !== undefined)
    .map(([port, connection]) => portSettings(port, connection));
  if (portLevelSettings.length > 0) trafficPolicy.portLevelSettings = portLevelSettings;
  return {
    apiVersion: ISTIO_NETWORKING_API_VERSION,
    kind: 'DestinationRule',
    metadata: metadata(context, service.name),
    spec: {
      host: serviceHost(context, service.name),
      subsets: service.versions.map((version) => ({ name: version, labels: { version } })),
      trafficPolicy,
    },
  };
}

function portSettings(port: number, connection: Connection): Record<string, unknown> {
  const settings: Record<string, unknown> = { port: { number: port } };
  if (connection.connectionPool !== undefined) settings.connectionPool = connection.connectionPool;
  if (connection.outlierDetection !== undefined) settings.outlierDetection = connection.outlierDetection;
  return settings;
}

/** The first connection per target port, in port order: per-port settings agree across callers (validated). */
function perPort(connections: Connection[]): [number, Connection][] {
  const byPort = new Map<number, Connection>();
  for (const connection of connections) if (!byPort.has(connection.port)) byPort.set(connection.port, connection);
  return [...byPort].sort(([a], [b]) => a - b);
}

function peerAuthenticationObject(context: BuildContext, service: MeshServiceModel, connections: Connection[]): KubeObject {
  return {
    apiVersion: ISTIO_SECURITY_API_VERSION,
    kind: 'PeerAuthentication',
    metadata: metadata(context, service.name),
    spec: {
      selector: { matchLabels: { app: service.name } },
      portLevelMtls: Object.fromEntries(perPort(connections).map(([port, connection]) => [String(port), { mode: connection.mtls }])),
    },
  };
}

/**
 * ALLOW with one rule per port. Once any ALLOW policy selects a workload, Istio denies every request
 * no policy allows, so only the declared connections reach the service.
 */
function authorizationPolicyObject(context: BuildContext, service: MeshServiceModel, connections: Connection[]): KubeObject {
  const rules = perPort(connections).map(([port]) => ({
    from: [{ source: { principals: principalsFor(context, connections.filter((connection) => connection.port === port)) } }],
    to: [{ operation: { ports: [String(port)] } }],
  }));
  return {
    apiVersion: ISTIO_SECURITY_API_VERSION,
    kind: 'AuthorizationPolicy',
    metadata: metadata(context, service.name),
    spec: { selector: { matchLabels: { app: service.name } }, action: 'ALLOW', rules },
  };
}

function principalsFor(context: BuildContext, connections: Connection[]): string[] {
  const namespace = context.descriptor.metadata.namespace;
  const principals = connections.flatMap((connection) => [
    `${context.trustDomain}/ns/${namespace}/sa/${connection.from}`,
    ...connection.allowedCallers.map((caller) => `${context.trustDomain}/ns/${caller.namespace}/sa/${caller.serviceAccount}`),
  ]);
  return [...new Set(principals)].sort(compareText);
}

function sortedRecord<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => compareText(a, b)));
}
