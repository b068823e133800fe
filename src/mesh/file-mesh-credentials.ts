import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { AppError } from '../errors.js';
import { isRevisioned } from '../injection-spec.js';
import type {
  ControlPlaneSettings,
  ControlPlaneSettingsSource,
  MeshConfigDocument,
  MeshCredentials,
  ServiceAccountTokenRequest,
} from './mesh-credentials.js';

/**
 * Credentials and control-plane settings kept as files, for GitOps setups and for trying the
 * product without a cluster. Layout (docs/configuration.md):
 *   root-cert.pem                          istio-ca-root-cert, any namespace
 *   namespaces/<ns>/root-cert.pem          overrides it for one namespace
 *   tokens/<ns>/<serviceAccount>.jwt       a token minted for that identity (audience istio-ca)
 *   mesh-config/istio[-<revision>].yaml    the `mesh` key of the istio ConfigMap
 *   cluster-id                             istiod's cluster ID
 */
export class FileMeshCredentials implements MeshCredentials, ControlPlaneSettingsSource {
  constructor(private readonly dir: string) {}

  async rootCertificate(namespace: string): Promise<string> {
    const perNamespace = await readOptional(path.join(this.dir, 'namespaces', namespace, 'root-cert.pem'));
    const certificate = perNamespace ?? (await readOptional(path.join(this.dir, 'root-cert.pem')));
    if (certificate === undefined || !certificate.includes('-----BEGIN CERTIFICATE-----')) {
      throw new AppError('CREDENTIALS_UNAVAILABLE', `No root certificate for namespace ${namespace}.`, {
        details: { lookedIn: [path.join(this.dir, 'namespaces', namespace, 'root-cert.pem'), path.join(this.dir, 'root-cert.pem')] },
      });
    }
    return certificate;
  }

  async serviceAccountToken(request: ServiceAccountTokenRequest): Promise<string> {
    const file = path.join(this.dir, 'tokens', request.namespace, `${request.serviceAccount}.jwt`);
    const token = (await readOptional(file))?.trim();
    if (!token) {
      throw new AppError('CREDENTIALS_UNAVAILABLE', `No token for service account ${request.namespace}/${request.serviceAccount}.`, {
        details: { lookedIn: file },
      });
    }
    return token;
  }

  async controlPlaneSettings(_istioNamespace: string, revision: string | undefined): Promise<ControlPlaneSettings> {
    const name = isRevisioned(revision) ? `istio-${revision}.yaml` : 'istio.yaml';
    const file = path.join(this.dir, 'mesh-config', name);
    const text = await readOptional(file);
    const meshConfig = text === undefined ? {} : parseMeshConfig(text, file);
    const clusterId = (await readOptional(path.join(this.dir, 'cluster-id')))?.trim();
    return clusterId ? { meshConfig, clusterId } : { meshConfig };
  }
}

function parseMeshConfig(text: string, file: string): MeshConfigDocument {
  const value: unknown = parseYaml(text);
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new AppError('INVALID_CONFIG', `Mesh config ${file} must be a YAML mapping (the istio ConfigMap's mesh key).`);
  }
  return value as MeshConfigDocument;
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AppError('CREDENTIALS_UNAVAILABLE', `Cannot read ${file}.`, { cause: error, retryable: true });
  }
}
