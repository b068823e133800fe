import { AppError } from '../errors.js';
import type { InjectionSpec, WorkloadProbe } from '../injection-spec.js';
import { labelValueProblem } from '../kubernetes-names.js';

/**
 * The Istio objects that put a VM into the mesh, built the way Istio builds them for
 * auto-registered VMs (pilot/pkg/autoregistration), so that a manually registered VM and an
 * auto-registered one look the same to istiod and to people reading `kubectl get we`.
 * Pure functions: no I/O, deterministic key order.
 */

export const ISTIO_NETWORKING_API_VERSION = 'networking.istio.io/v1';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'vm-sidecar-injector';
export const SERVER_ID_LABEL = 'vmsi.dev/server-id';
export const VNF_INSTANCE_ID_LABEL = 'vmsi.dev/vnf-instance-id';
/**
 * istiod keeps a WorkloadEntry carrying this annotation out of load balancing until the VM's agent
 * reports it healthy (pilot/pkg/model/status). Without it a configured probe changes nothing.
 */
export const HEALTH_CHECKS_ANNOTATION = 'proxy.istio.io/health-checks-enabled';

const CANONICAL_NAME_LABEL = 'service.istio.io/canonical-name';
const CANONICAL_REVISION_LABEL = 'service.istio.io/canonical-revision';
const CANONICAL_NAME_SOURCES = [CANONICAL_NAME_LABEL, 'app.kubernetes.io/name', 'app'];
const CANONICAL_REVISION_SOURCES = [CANONICAL_REVISION_LABEL, 'app.kubernetes.io/version', 'version'];
const MAX_OBJECT_NAME_LENGTH = 253;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export interface IstioObjectMeta {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface WorkloadEntrySpec {
  address: string;
  labels: Record<string, string>;
  locality?: string;
  network?: string;
  ports?: Record<string, number>;
  serviceAccount: string;
}

export interface WorkloadEntry {
  apiVersion: typeof ISTIO_NETWORKING_API_VERSION;
  kind: 'WorkloadEntry';
  metadata: IstioObjectMeta;
  spec: WorkloadEntrySpec;
}

export type WorkloadEntryTemplate = Omit<WorkloadEntrySpec, 'address' | 'labels'>;

export interface WorkloadGroupSpec {
  metadata: { labels: Record<string, string> };
  probe?: WorkloadProbe;
  template: WorkloadEntryTemplate;
}

export interface WorkloadGroup {
  apiVersion: typeof ISTIO_NETWORKING_API_VERSION;
  kind: 'WorkloadGroup';
  metadata: IstioObjectMeta;
  spec: WorkloadGroupSpec;
}

/** What the caller knows about the VM beyond the spec; becomes labels so entries can be traced back. */
export interface WorkloadEntryContext {
  /** Nova server UUID; defaults to the spec's vm.serverId. */
  serverId?: string;
  vnfInstanceId?: string;
}

export function buildWorkloadGroup(spec: InjectionSpec): WorkloadGroup {
  const { mesh } = spec;
  const groupSpec: WorkloadGroupSpec = {
    metadata: { labels: sortedRecord(mesh.labels) },
    template: workloadTemplate(spec),
  };
  if (mesh.probe !== undefined) groupSpec.probe = protojsonProbe(mesh.probe);
  return sortedKeys({
    apiVersion: ISTIO_NETWORKING_API_VERSION,
    kind: 'WorkloadGroup',
    metadata: {
      name: mesh.workloadGroup,
      namespace: mesh.namespace,
      labels: sortedRecord({ ...mesh.labels, [MANAGED_BY_LABEL]: MANAGED_BY }),
    },
    spec: groupSpec,
  });
}

export function buildWorkloadEntry(spec: InjectionSpec, context: WorkloadEntryContext = {}): WorkloadEntry {
  const { mesh } = spec;
  const labels = workloadLabels(spec);
  const metadata: IstioObjectMeta = {
    name: workloadEntryName(spec),
    namespace: mesh.namespace,
    labels: sortedRecord({ ...labels, ...traceLabels(spec, context), [MANAGED_BY_LABEL]: MANAGED_BY }),
  };
  if (mesh.probe !== undefined) metadata.annotations = { [HEALTH_CHECKS_ANNOTATION]: 'true' };
  return sortedKeys({
    apiVersion: ISTIO_NETWORKING_API_VERSION,
    kind: 'WorkloadEntry',
    metadata,
    spec: { ...workloadTemplate(spec), address: spec.vm.address, labels },
  });
}

/**
 * The name istiod gives an auto-registered entry (GenerateWorkloadEntryName): group, address with
 * ':' replaced by '-', then the network when set, joined by '-'; over 253 characters Istio keeps
 * the tail. Using the same name means switching a VM between manual and auto registration never
 * leaves two entries for one address.
 */
export function workloadEntryName(spec: InjectionSpec): string {
  const { mesh } = spec;
  const withoutNetwork = `${mesh.workloadGroup}-${spec.vm.address.replaceAll(':', '-')}`;
  let name = mesh.network === '' ? withoutNetwork : `${withoutNetwork}-${mesh.network}`;
  if (name.length > MAX_OBJECT_NAME_LENGTH) name = name.slice(name.length - MAX_OBJECT_NAME_LENGTH);
  if (!DNS1123_SUBDOMAIN.test(name)) {
    // istiod would fail to create such an entry at connect time; say which spec field to change instead.
    const problem = DNS1123_SUBDOMAIN.test(withoutNetwork)
      ? { path: 'mesh.network', message: 'is part of the WorkloadEntry name: use lowercase letters, digits, "-" and "."' }
      : { path: 'vm.address', message: 'is part of the WorkloadEntry name and cannot appear in a Kubernetes name' };
    throw new AppError('INVALID_SPEC', `The WorkloadEntry name ${JSON.stringify(name)} would not be a valid Kubernetes name.`, {
      problems: [problem],
    });
  }
  return name;
}

/**
 * The labels istiod would give an auto-registered entry: the VM's own labels (ISTIO_METAJSON_LABELS,
 * which the bootstrap files fill the same way) with the canonical service and revision added.
 */
export function workloadLabels(spec: InjectionSpec): Record<string, string> {
  const { mesh } = spec;
  return sortedRecord({
    ...mesh.labels,
    [CANONICAL_NAME_LABEL]: firstLabel(mesh.labels, CANONICAL_NAME_SOURCES) ?? mesh.workloadGroup,
    [CANONICAL_REVISION_LABEL]: firstLabel(mesh.labels, CANONICAL_REVISION_SOURCES) ?? 'latest',
  });
}

/** Template fields as protojson prints them: empty network, ports and locality are left out. */
function workloadTemplate(spec: InjectionSpec): WorkloadEntryTemplate {
  const { mesh } = spec;
  const template: WorkloadEntryTemplate = { serviceAccount: mesh.serviceAccount };
  if (mesh.network !== '') template.network = mesh.network;
  if (Object.keys(mesh.ports).length > 0) template.ports = sortedRecord(mesh.ports);
  if (mesh.locality !== undefined && mesh.locality !== '') template.locality = mesh.locality;
  return template;
}

function traceLabels(spec: InjectionSpec, context: WorkloadEntryContext): Record<string, string> {
  const labels: Record<string, string> = {};
  const serverId = context.serverId ?? spec.vm.serverId;
  if (serverId !== undefined) labels[SERVER_ID_LABEL] = checkedLabelValue('serverId', serverId);
  if (context.vnfInstanceId !== undefined) labels[VNF_INSTANCE_ID_LABEL] = checkedLabelValue('vnfInstanceId', context.vnfInstanceId);
  return labels;
}

function checkedLabelValue(path: string, value: string): string {
  const problem = labelValueProblem(value);
  if (problem !== undefined) {
    throw new AppError('INVALID_SPEC', `${path} cannot be used as a Kubernetes label value.`, { problems: [{ path, message: problem }] });
  }
  return value;
}

function firstLabel(labels: Record<string, string>, keys: string[]): string | undefined {
  for (const key of keys) {
    if (Object.hasOwn(labels, key)) return labels[key];
  }
  return undefined;
}

/**
 * Istio's ReadinessProbe as protojson prints it, in the WorkloadGroup and in mesh.yaml alike:
 * proto3 cannot tell a zero from an unset field, so zero values are omitted.
 */
export function protojsonProbe(probe: WorkloadProbe): WorkloadProbe {
  return withoutZeroValues(probe) as WorkloadProbe;
}

function withoutZeroValues(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutZeroValues);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (inner === undefined || inner === 0 || inner === '' || inner === false) continue;
    out[key] = withoutZeroValues(inner);
  }
  return out;
}

function sortedRecord<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => compareBytes(a, b)));
}

/** Byte order, as Go's encoders and sort.Strings order keys; localeCompare would not match it. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function sortedKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item: unknown) => sortedKeys(item)) as T;
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => compareBytes(a, b));
  return Object.fromEntries(entries.map(([key, inner]) => [key, sortedKeys(inner)])) as T;
}
