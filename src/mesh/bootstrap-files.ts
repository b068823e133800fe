import { isIP } from 'node:net';
import { AppError } from '../errors.js';
import { isRevisioned, type InjectionSpec } from '../injection-spec.js';
import { splitHostPort } from '../network-address.js';
import { stringifyLikeGoYaml } from './go-yaml.js';
import { shellQuoteLikeIstioctl } from './shell-quote.js';
import type { ControlPlaneSettings } from './mesh-credentials.js';
import { compareBytes, protojsonProbe, workloadEntryName, workloadLabels } from './workload-objects.js';

/**
 * The files `istioctl x workload entry configure` writes, computed the same way
 * (istioctl/pkg/workload/workload.go), plus the checks Istio users learned to need.
 * Deliberate differences, each documented in docs/bootstrap-files.md:
 * ISTIO_SVC_IP is always set; ISTIO_INBOUND_PORTS is ordered by port name (Go map order is random);
 * TRUST_DOMAIN falls back to cluster.local; dnsCapture false removes an inherited capture flag;
 * a manually registered VM with a probe names its WorkloadEntry (ISTIO_META_WORKLOAD_ENTRY).
 */

export const ISTIO_DEFAULT_TRUST_DOMAIN = 'cluster.local';
export const ISTIO_DEFAULT_CLUSTER_ID = 'Kubernetes';
const ISTIOD_PORT = 15012;

export interface BootstrapInputs {
  spec: InjectionSpec;
  controlPlane: ControlPlaneSettings;
  rootCertificate: string;
  /** Absent with `certificates: istio-ca`: the VM then holds a signed certificate, never a token. */
  token?: string;
  /** The east-west gateway address; resolved by the caller when the spec names a hostname. */
  gatewayIp?: string;
}

export interface MeshIdentity {
  trustDomain: string;
  clusterId: string;
  spiffeId: string;
  discoveryAddress: string;
}

export interface BootstrapFiles {
  clusterEnv: string;
  meshYaml: string;
  rootCertificate: string;
  istioToken?: string;
  /** Absent when the VM resolves the control plane by itself. */
  hosts?: string;
  identity: MeshIdentity;
}

/** Where the install puts the chain, key and root; pilot-agent's defaults (pkg/security/security.go). */
export const CERTS_DIR = '/etc/certs';

/**
 * With `certificates: istio-ca` the agent serves the files the service had signed instead of
 * making its own CSR (pilot-agent options/security.go `FILE_MOUNTED_CERTS`), and uses the same
 * files for its own connection to istiod (docs/istio-ca.md).
 */
const FILE_MOUNTED_CERTS_METADATA: Readonly<Record<string, string>> = {
  FILE_MOUNTED_CERTS: 'true',
  ISTIO_META_TLS_CLIENT_CERT_CHAIN: `${CERTS_DIR}/cert-chain.pem`,
  ISTIO_META_TLS_CLIENT_KEY: `${CERTS_DIR}/key.pem`,
  ISTIO_META_TLS_CLIENT_ROOT_CERT: `${CERTS_DIR}/root-cert.pem`,
};

export function istiodHost(istioNamespace: string, revision: string | undefined): string {
  return `${isRevisioned(revision) ? `istiod-${revision}` : 'istiod'}.${istioNamespace}.svc`;
}

export function istiodAddress(istioNamespace: string, revision: string | undefined): string {
  return `${istiodHost(istioNamespace, revision)}:${ISTIOD_PORT}`;
}

export function buildBootstrapFiles(inputs: BootstrapInputs): BootstrapFiles {
  const { spec, controlPlane } = inputs;
  const identity = resolveIdentity(spec, controlPlane);
  const proxyConfig = buildProxyConfig(spec, controlPlane, identity);
  const proxyMetadata = proxyConfig.proxyMetadata as Record<string, string>;
  const hosts = buildHosts(spec, inputs.gatewayIp, identity.discoveryAddress);
  return {
    clusterEnv: renderEnvFile({ ...proxyMetadata, ...clusterEnvOverrides(spec, proxyConfig) }),
    meshYaml: stringifyLikeGoYaml({ defaultConfig: proxyConfig }),
    rootCertificate: inputs.rootCertificate,
    ...(inputs.token === undefined ? {} : { istioToken: inputs.token }),
    ...(hosts === undefined ? {} : { hosts }),
    identity,
  };
}

/** Istio users' lesson: a cluster ID other than istiod's makes the proxy's config silently wrong. */
function resolveClusterId(specClusterId: string | undefined, controlPlaneClusterId: string | undefined): string {
  if (specClusterId !== undefined && controlPlaneClusterId !== undefined && specClusterId !== controlPlaneClusterId) {
    throw new AppError('MESH_INCONSISTENT', `mesh.clusterId ${specClusterId} differs from istiod's cluster ID ${controlPlaneClusterId}.`, {
      details: { specClusterId, controlPlaneClusterId },
    });
  }
  return specClusterId ?? controlPlaneClusterId ?? ISTIO_DEFAULT_CLUSTER_ID;
}

function resolveIdentity(spec: InjectionSpec, controlPlane: ControlPlaneSettings): MeshIdentity {
  const { mesh } = spec;
  const clusterId = resolveClusterId(mesh.clusterId, controlPlane.clusterId);
  const trustDomain = mesh.trustDomain ?? nonEmptyString(controlPlane.meshConfig.trustDomain) ?? ISTIO_DEFAULT_TRUST_DOMAIN;
  const defaultConfig = controlPlane.meshConfig.defaultConfig ?? {};
  const configuredDiscovery = nonEmptyString(defaultConfig.discoveryAddress);
  return {
    trustDomain,
    clusterId,
    spiffeId: `spiffe://${trustDomain}/ns/${mesh.namespace}/sa/${mesh.serviceAccount}`,
    discoveryAddress: mesh.discoveryAddress ?? configuredDiscovery ?? istiodAddress(mesh.istioNamespace, mesh.revision),
  };
}

function buildProxyConfig(spec: InjectionSpec, controlPlane: ControlPlaneSettings, identity: MeshIdentity): Record<string, unknown> {
  const { mesh } = spec;
  const proxyConfig: Record<string, unknown> = structuredClone(controlPlane.meshConfig.defaultConfig ?? {});
  const proxyMetadata: Record<string, string> = { ...stringRecord(proxyConfig.proxyMetadata) };
  if (isRevisioned(mesh.revision) && !nonEmptyString(proxyConfig.discoveryAddress)) {
    proxyConfig.discoveryAddress = istiodAddress(mesh.istioNamespace, mesh.revision);
  }
  if (mesh.proxyConfig !== undefined) {
    const { proxyMetadata: overrideMetadata, ...overrides } = mesh.proxyConfig;
    Object.assign(proxyConfig, structuredClone(overrides));
    Object.assign(proxyMetadata, stringRecord(overrideMetadata));
  }
  if (mesh.discoveryAddress !== undefined) proxyConfig.discoveryAddress = mesh.discoveryAddress;
  if (mesh.meshId !== undefined) proxyConfig.meshId = mesh.meshId;
  if (mesh.probe === undefined) delete proxyConfig.readinessProbe;
  else proxyConfig.readinessProbe = protojsonProbe(mesh.probe);
  Object.assign(proxyMetadata, workloadMetadata(spec, identity, nonEmptyString(proxyConfig.meshId) ?? ''));
  if (!mesh.dnsCapture) delete proxyMetadata.ISTIO_META_DNS_CAPTURE;
  proxyConfig.proxyMetadata = proxyMetadata;
  return proxyConfig;
}

function workloadMetadata(spec: InjectionSpec, identity: MeshIdentity, meshId: string): Record<string, string> {
  const { mesh } = spec;
  // The same labels the WorkloadEntry carries, so the proxy and the registry describe one workload.
  const labels = workloadLabels(spec);
  const metadata: Record<string, string> = {
    CANONICAL_SERVICE: labels['service.istio.io/canonical-name'] ?? mesh.workloadGroup,
    CANONICAL_REVISION: labels['service.istio.io/canonical-revision'] ?? 'latest',
    POD_NAMESPACE: mesh.namespace,
    SERVICE_ACCOUNT: mesh.serviceAccount,
    TRUST_DOMAIN: identity.trustDomain,
    ISTIO_META_CLUSTER_ID: identity.clusterId,
    ISTIO_META_MESH_ID: meshId,
    ISTIO_META_NETWORK: mesh.network,
    ISTIO_META_WORKLOAD_NAME: mesh.workloadGroup,
    // workloadLabels sorts by bytes, as Go's json.Marshal orders map keys.
    ISTIO_METAJSON_LABELS: JSON.stringify(labels),
  };
  const podPorts = Object.entries(mesh.ports)
    .sort(([a], [b]) => compareBytes(a, b))
    .map(([name, containerPort]) => ({ name, containerPort }));
  if (podPorts.length > 0) metadata.ISTIO_META_POD_PORTS = JSON.stringify(podPorts);
  if (mesh.dnsCapture) metadata.ISTIO_META_DNS_CAPTURE = 'true';
  if (mesh.certificates === 'istio-ca') Object.assign(metadata, FILE_MOUNTED_CERTS_METADATA);
  if (mesh.autoRegister) metadata.ISTIO_META_AUTO_REGISTER_GROUP = mesh.workloadGroup;
  // istiod reports health for an entry it did not create only when the proxy names that entry
  // (pilot/pkg/autoregistration); without it a probed VM's entry never turns Healthy.
  else if (mesh.probe !== undefined) metadata.ISTIO_META_WORKLOAD_ENTRY = workloadEntryName(spec);
  return metadata;
}

function clusterEnvOverrides(spec: InjectionSpec, proxyConfig: Record<string, unknown>): Record<string, string> {
  const { mesh } = spec;
  const inboundPorts = Object.entries(mesh.ports)
    .sort(([a], [b]) => compareBytes(a, b))
    .map(([, port]) => String(port));
  const overrides: Record<string, string> = {
    ISTIO_INBOUND_PORTS: inboundPorts.length > 0 ? inboundPorts.join(',') : '*',
    ISTIO_NAMESPACE: mesh.namespace,
    ISTIO_SERVICE: `${mesh.workloadGroup}.${mesh.namespace}`,
    ISTIO_SERVICE_CIDR: '*',
    ISTIO_LOCAL_EXCLUDE_PORTS: localExcludePorts(proxyConfig.statusPort),
    SERVICE_ACCOUNT: mesh.serviceAccount,
    // Lesson from Istio users: a VM that guesses its own address picks the wrong NIC on multi-homed hosts.
    ISTIO_SVC_IP: spec.vm.address,
  };
  if (isRevisioned(mesh.revision)) overrides.CA_ADDR = istiodAddress(mesh.istioNamespace, mesh.revision);
  return overrides;
}

/** 22 stays excluded so a broken sidecar can never cut the SSH path used to repair it. */
function localExcludePorts(statusPort: unknown): string {
  const base = '22,15090,15021';
  if (statusPort === 15090 || statusPort === 15021) return base;
  return typeof statusPort === 'number' && statusPort !== 0 ? `${base},${statusPort}` : `${base},15020`;
}

function buildHosts(spec: InjectionSpec, gatewayIp: string | undefined, discoveryAddress: string): string | undefined {
  const { mesh } = spec;
  if (gatewayIp === undefined) {
    if (mesh.gateway !== undefined) {
      throw new AppError('GATEWAY_UNRESOLVED', 'The east-west gateway address was not resolved before rendering.');
    }
    return undefined;
  }
  const hostnames = new Set<string>();
  const discoveryHost = splitHostPort(discoveryAddress)?.host;
  if (discoveryHost !== undefined && isIP(discoveryHost) === 0) hostnames.add(discoveryHost);
  if (isRevisioned(mesh.revision)) hostnames.add(istiodHost(mesh.istioNamespace, mesh.revision));
  if (hostnames.size === 0) return undefined;
  return [...hostnames].map((hostname) => `${gatewayIp} ${hostname}\n`).join('');
}

/** cluster.env as istioctl's mapToString: `K=v` lines, values shell-quoted, byte-sorted, newline-terminated. */
export function renderEnvFile(values: Record<string, string>): string {
  const lines = Object.entries(values).map(([key, value]) => `${key}=${shellQuoteLikeIstioctl(value)}`);
  lines.sort(compareBytes);
  return `${lines.join('\n')}\n`;
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function stringRecord(value: unknown): Record<string, string> {
  if (value === null || typeof value !== 'object') return {};
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, String(inner)]));
}
