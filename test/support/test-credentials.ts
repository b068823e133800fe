import { readFileSync } from 'node:fs';
import type {
  AddressResolver,
  ControlPlaneSettings,
  ControlPlaneSettingsSource,
  MeshCredentials,
  ServiceAccountTokenRequest,
} from '../../src/mesh/mesh-credentials.js';

/** Marks every test token so the leak check can find it anywhere the run wrote. */
export const TEST_TOKEN_SIGNATURE = 'VMSI-TEST-TOKEN-SIGNATURE-do-not-log';
export const TEST_ROOT_CERT = readFileSync(new URL('../../cloud-init/testdata/_shared/root-cert.pem', import.meta.url), 'utf8');

/** A Kubernetes-shaped service account JWT; unsigned (the signature is a marker), deterministic. */
export function makeTestToken(namespace: string, serviceAccount: string, options: { audience?: string; expiresAt?: number } = {}): string {
  const header = { alg: 'RS256', kid: 'vmsi-test' };
  const payload = {
    aud: [options.audience ?? 'istio-ca'],
    exp: options.expiresAt ?? 4102444800,
    iat: 1767225600,
    iss: 'https://kubernetes.default.svc.cluster.local',
    'kubernetes.io': { namespace, serviceaccount: { name: serviceAccount, uid: '00000000-0000-4000-8000-000000000000' } },
    nbf: 1767225600,
    sub: `system:serviceaccount:${namespace}:${serviceAccount}`,
  };
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode(header)}.${encode(payload)}.${Buffer.from(TEST_TOKEN_SIGNATURE).toString('base64url')}`;
}

/** The signature part every test token carries, as it appears inside the token text. */
export const TEST_TOKEN_MARKER = Buffer.from(TEST_TOKEN_SIGNATURE).toString('base64url');

export class InMemoryMeshCredentials implements MeshCredentials, ControlPlaneSettingsSource {
  readonly tokenRequests: ServiceAccountTokenRequest[] = [];

  constructor(
    private readonly settings: ControlPlaneSettings = { meshConfig: {} },
    private readonly rootCert: string = TEST_ROOT_CERT,
  ) {}

  rootCertificate(): Promise<string> {
    return Promise.resolve(this.rootCert);
  }

  serviceAccountToken(request: ServiceAccountTokenRequest): Promise<string> {
    this.tokenRequests.push(request);
    return Promise.resolve(makeTestToken(request.namespace, request.serviceAccount, { audience: request.audience }));
  }

  controlPlaneSettings(): Promise<ControlPlaneSettings> {
    return Promise.resolve(structuredClone(this.settings));
  }
}

export class StaticResolver implements AddressResolver {
  constructor(private readonly addresses: Record<string, string>) {}

  resolve(hostname: string): Promise<string> {
    const address = this.addresses[hostname];
    return address === undefined ? Promise.reject(new Error(`getaddrinfo ENOTFOUND ${hostname}`)) : Promise.resolve(address);
  }
}
