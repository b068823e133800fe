import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.js';
import type { InjectionSpec } from '../injection-spec.js';
import { registerSecret, sha256Hex } from '../log.js';
import { buildBootstrapFiles } from '../mesh/bootstrap-files.js';
import type { AddressResolver, ControlPlaneSettingsSource, MeshCredentials } from '../mesh/mesh-credentials.js';
import { checkTokenIdentity } from '../mesh/token-identity.js';
import { assembleBundle, type InjectionBundle, type PushedPackage } from './injection-bundle.js';

export const ISTIO_CA_AUDIENCE = 'istio-ca';

export interface RenderDependencies {
  credentials: MeshCredentials;
  controlPlane: ControlPlaneSettingsSource;
  resolver: AddressResolver;
  installScript: Buffer;
  /** Folder holding packages that are pushed to VMs without a route out. */
  artifactsDir: string;
  tokenLifetimeSeconds: number;
  now: () => number;
}

/** Everything a VM needs, fetched and checked: identity consistency, token validity, gateway address, package digest. */
export async function renderInjection(spec: InjectionSpec, deps: RenderDependencies): Promise<InjectionBundle> {
  return (await renderInjectionWithToken(spec, deps)).bundle;
}

export interface RenderedInjection {
  bundle: InjectionBundle;
  /** The freshly minted token: in the bundle for `certificates: token`; for istio-ca only this service uses it, to have the VM's CSR signed. */
  token: string;
}

export async function renderInjectionWithToken(spec: InjectionSpec, deps: RenderDependencies): Promise<RenderedInjection> {
  const { mesh } = spec;
  const [controlPlane, rootCertificate, token, gatewayIp, pushed] = await Promise.all([
    deps.controlPlane.controlPlaneSettings(mesh.istioNamespace, mesh.revision),
    deps.credentials.rootCertificate(mesh.namespace),
    mintToken(spec, deps),
    resolveGateway(spec, deps),
    loadPushedPackage(spec, deps.artifactsDir),
  ]);
  const tokenOnVm = mesh.certificates === 'token' ? { token } : {};
  const bootstrap = buildBootstrapFiles({ spec, controlPlane, rootCertificate, ...tokenOnVm, ...(gatewayIp === undefined ? {} : { gatewayIp }) });
  return { bundle: assembleBundle(spec, bootstrap, deps.installScript, pushed), token };
}

async function mintToken(spec: InjectionSpec, deps: RenderDependencies): Promise<string> {
  const { namespace, serviceAccount } = spec.mesh;
  const token = await deps.credentials.serviceAccountToken({
    namespace,
    serviceAccount,
    audience: ISTIO_CA_AUDIENCE,
    expirationSeconds: deps.tokenLifetimeSeconds,
  });
  registerSecret(token);
  // A VM needs the token until the agent has its first certificate: boot plus package download.
  const minimumRemainingMs = Math.min(deps.tokenLifetimeSeconds * 1000, 10 * 60_000);
  checkTokenIdentity(token, { namespace, serviceAccount, audience: ISTIO_CA_AUDIENCE, minimumRemainingMs, nowMs: deps.now() });
  return token;
}

/** The gateway Service's address: its IP, or its load balancer's hostname resolved as any other. */
async function serviceGateway(service: string, deps: RenderDependencies): Promise<{ ip?: string; hostname?: string }> {
  const [name = '', namespace = ''] = service.split('.');
  if (deps.controlPlane.serviceAddress === undefined) {
    throw new AppError('INVALID_SPEC', `mesh.gateway.service needs credentials from Kubernetes to read ${service}; give its ip or hostname instead.`, {
      problems: [{ path: 'mesh.gateway.service', message: 'the configured mesh credentials cannot read Services' }],
    });
  }
  const address = await deps.controlPlane.serviceAddress(namespace, name);
  if (address.ip === undefined && address.hostname === undefined) {
    throw new AppError('GATEWAY_UNRESOLVED', `Service ${service} has no load balancer ingress or external IP yet.`, { retryable: true, details: { service } });
  }
  return address;
}

async function resolveGateway(spec: InjectionSpec, deps: RenderDependencies): Promise<string | undefined> {
  const configured = spec.mesh.gateway;
  if (configured === undefined) return undefined;
  const gateway = configured.service === undefined ? configured : await serviceGateway(configured.service, deps);
  if (gateway.ip !== undefined) return gateway.ip;
  const resolver: AddressResolver = deps.resolver;
  const hostname = gateway.hostname as string;
  try {
    return await resolver.resolve(hostname);
  } catch (cause) {
    // Istio users' lesson: an empty hosts line leaves the VM unable to reach istiod, silently.
    throw new AppError('GATEWAY_UNRESOLVED', `The east-west gateway hostname ${hostname} does not resolve.`, {
      cause,
      retryable: true,
      details: { hostname },
    });
  }
}

async function loadPushedPackage(spec: InjectionSpec, artifactsDir: string): Promise<PushedPackage | undefined> {
  if (spec.package.source !== 'push') return undefined;
  const file = path.join(artifactsDir, spec.package.file);
  let content: Buffer;
  try {
    content = await readFile(file);
  } catch (cause) {
    throw new AppError('PACKAGE_UNAVAILABLE', `Package ${spec.package.file} is not in the artifact folder.`, { cause, details: { file } });
  }
  const digest = sha256Hex(content);
  if (digest !== spec.package.sha256) {
    throw new AppError('PACKAGE_UNAVAILABLE', `Package ${spec.package.file} does not match its sha256.`, {
      details: { expected: spec.package.sha256, actual: digest },
    });
  }
  return { fileName: spec.package.file.endsWith('.rpm') ? 'istio-sidecar.rpm' : 'istio-sidecar.deb', content };
}

export const systemResolver: AddressResolver = {
  async resolve(hostname: string): Promise<string> {
    const { address } = await lookup(hostname);
    return address;
  },
};
