import { CoreV1Api, type ConfigurationOptions, type KubeConfig, type V1ConfigMap, type V1Service } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { AppError } from '../../errors.js';
import { isRevisioned } from '../../injection-spec.js';
import { registerSecret, sha256Hex, type Logger } from '../../log.js';
import type {
  ControlPlaneSettings,
  ControlPlaneSettingsSource,
  MeshConfigDocument,
  MeshCredentials,
  ServiceAccountTokenRequest,
} from '../mesh-credentials.js';
import { boundedCall, DEFAULT_REQUEST_TIMEOUT_MS } from './kube-config.js';
import { callKubernetes, isApiStatus, toKubernetesError } from './kubernetes-errors.js';

/**
 * The control plane's facts read from the cluster, as `istioctl x workload entry configure` reads
 * them (istioctl/pkg/workload): the root certificate from ConfigMap istio-ca-root-cert in the
 * workload namespace, a TokenRequest for the workload's service account, the mesh config from
 * ConfigMap istio[-<revision>] and the cluster ID from istio-sidecar-injector[-<revision>].
 */

const ROOT_CERT_CONFIGMAP = 'istio-ca-root-cert';
const ROOT_CERT_KEY = 'root-cert.pem';
const MESH_CONFIG_KEY = 'mesh';
const INJECTOR_VALUES_KEY = 'values';

export interface KubernetesMeshCredentialsOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Bound on each API call; DEFAULT_REQUEST_TIMEOUT_MS when absent. */
  requestTimeoutMs?: number;
}

export class KubernetesMeshCredentials implements MeshCredentials, ControlPlaneSettingsSource {
  private readonly core: CoreV1Api;
  private readonly logger: Logger;
  private readonly callOptions: ConfigurationOptions;

  constructor(options: KubernetesMeshCredentialsOptions) {
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.logger = options.logger;
    this.callOptions = boundedCall(options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  }

  async rootCertificate(namespace: string): Promise<string> {
    const configMap = await this.readConfigMap(namespace, ROOT_CERT_CONFIGMAP);
    const certificate = configMap?.data?.[ROOT_CERT_KEY];
    if (certificate === undefined || !certificate.includes('-----BEGIN CERTIFICATE-----')) {
      // istiod writes this ConfigMap into every namespace it watches; its absence means the namespace is not part of the mesh.
      throw new AppError('CREDENTIALS_UNAVAILABLE', `No root certificate for namespace ${namespace}: ConfigMap ${ROOT_CERT_CONFIGMAP} has no ${ROOT_CERT_KEY}.`, {
        details: { namespace, configMap: ROOT_CERT_CONFIGMAP, key: ROOT_CERT_KEY, found: configMap !== undefined },
      });
    }
    return certificate;
  }

  async serviceAccountToken(request: ServiceAccountTokenRequest): Promise<string> {
    const identity = `${request.namespace}/${request.serviceAccount}`;
    const context = { operation: `create TokenRequest for service account ${identity}`, code: 'CREDENTIALS_UNAVAILABLE' } as const;
    let answer;
    try {
      answer = await this.core.createNamespacedServiceAccountToken({
        name: request.serviceAccount,
        namespace: request.namespace,
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { audiences: [request.audience], expirationSeconds: request.expirationSeconds },
        },
      }, this.callOptions);
    } catch (error) {
      if (isApiStatus(error, 404)) throw new AppError('CREDENTIALS_UNAVAILABLE', `Service account ${identity} does not exist.`, { cause: error, details: { namespace: request.namespace, serviceAccount: request.serviceAccount } });
      throw toKubernetesError(error, context);
    }
    const token = answer.status?.token;
    if (token === undefined || token === '') throw new AppError('CREDENTIALS_UNAVAILABLE', `The TokenRequest for ${identity} returned no token.`, { retryable: true });
    registerSecret(token);
    this.logger.debug('Minted a service account token.', {
      namespace: request.namespace,
      serviceAccount: request.serviceAccount,
      audience: request.audience,
      expirationSeconds: request.expirationSeconds,
      tokenSha256: sha256Hex(token),
    });
    return token;
  }

  async controlPlaneSettings(istioNamespace: string, revision: string | undefined): Promise<ControlPlaneSettings> {
    const suffix = isRevisioned(revision) ? `-${revision}` : '';
    const meshConfigMap = await this.readConfigMap(istioNamespace, `istio${suffix}`);
    if (meshConfigMap === undefined) {
      throw new AppError('CREDENTIALS_UNAVAILABLE', `ConfigMap istio${suffix} does not exist in ${istioNamespace}; is Istio${suffix === '' ? '' : ` revision ${revision}`} installed there?`, {
        details: { namespace: istioNamespace, configMap: `istio${suffix}` },
      });
    }
    const meshConfig = parseMeshConfig(meshConfigMap.data?.[MESH_CONFIG_KEY], `${istioNamespace}/istio${suffix}`);
    const injector = await this.readConfigMap(istioNamespace, `istio-sidecar-injector${suffix}`);
    const clusterId = clusterNameOf(injector?.data?.[INJECTOR_VALUES_KEY]);
    return clusterId === undefined ? { meshConfig } : { meshConfig, clusterId };
  }

  async serviceAddress(namespace: string, name: string): Promise<{ ip?: string; hostname?: string }> {
    const context = { operation: `get Service ${namespace}/${name}`, code: 'CREDENTIALS_UNAVAILABLE' } as const;
    return externalAddressOf(await callKubernetes(context, () => this.core.readNamespacedService({ name, namespace }, this.callOptions)));
  }

  private async readConfigMap(namespace: string, name: string): Promise<V1ConfigMap | undefined> {
    const context = { operation: `get ConfigMap ${namespace}/${name}`, code: 'CREDENTIALS_UNAVAILABLE' } as const;
    return callKubernetes(context, async () => {
      try {
        return await this.core.readNamespacedConfigMap({ name, namespace }, this.callOptions);
      } catch (error) {
        if (isApiStatus(error, 404)) return undefined;
        throw error;
      }
    });
  }
}

/** istioctl's order (createHosts): the load balancer's ingress IP, then external IPs, then its hostname. */
function externalAddressOf(service: V1Service): { ip?: string; hostname?: string } {
  const ingress = service.status?.loadBalancer?.ingress?.[0] ?? {};
  const externalIps = service.spec?.externalIPs ?? [];
  const ip = ingress.ip || externalIps[0];
  if (ip) return { ip };
  return ingress.hostname ? { hostname: ingress.hostname } : {};
}

function parseMeshConfig(text: string | undefined, source: string): MeshConfigDocument {
  if (text === undefined || text.trim() === '') return {};
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (cause) {
    throw new AppError('INVALID_CONFIG', `The mesh key of ConfigMap ${source} is not valid YAML.`, { cause });
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new AppError('INVALID_CONFIG', `The mesh key of ConfigMap ${source} must be a YAML mapping.`);
  return value as MeshConfigDocument;
}

/** `global.multiCluster.clusterName` of the injector's values (JSON), as istioctl reads it. */
function clusterNameOf(valuesText: string | undefined): string | undefined {
  if (valuesText === undefined) return undefined;
  try {
    const values = JSON.parse(valuesText) as { global?: { multiCluster?: { clusterName?: unknown } } };
    const name = values.global?.multiCluster?.clusterName;
    return typeof name === 'string' && name !== '' ? name : undefined;
  } catch {
    return undefined;
  }
}
