/**
 * Ports through which the core obtains what only the control plane knows. The file adapter is
 * the embedded default; a Kubernetes adapter reads the same facts from the cluster.
 */
export interface ServiceAccountTokenRequest {
  namespace: string;
  serviceAccount: string;
  /** Always `istio-ca` for VM bootstrap, as istioctl asks. */
  audience: string;
  expirationSeconds: number;
}

export interface MeshCredentials {
  /** The `root-cert.pem` of ConfigMap `istio-ca-root-cert` in the workload namespace. */
  rootCertificate(namespace: string): Promise<string>;
  /** A service account token for the workload identity; treat as a secret. */
  serviceAccountToken(request: ServiceAccountTokenRequest): Promise<string>;
}

/** The parts of the control plane's configuration that shape a VM's bootstrap files. */
export interface ControlPlaneSettings {
  /** The `mesh` key of ConfigMap `istio[-<revision>]`, parsed. */
  meshConfig: MeshConfigDocument;
  /** istiod's cluster ID (`global.multiCluster.clusterName`), when the source knows it. */
  clusterId?: string;
}

export interface MeshConfigDocument {
  trustDomain?: string;
  defaultConfig?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface ControlPlaneSettingsSource {
  controlPlaneSettings(istioNamespace: string, revision: string | undefined): Promise<ControlPlaneSettings>;
  /**
   * The external address of a Service (the east-west gateway), as istioctl reads it: the load
   * balancer's ingress, else its external IPs. Sources that cannot see Services leave it out.
   */
  serviceAddress?(namespace: string, name: string): Promise<{ ip?: string; hostname?: string }>;
}

/** Resolves the east-west gateway hostname the way the plugin host sees it. */
export interface AddressResolver {
  resolve(hostname: string): Promise<string>;
}
