import { X509Certificate } from 'node:crypto';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { splitHostPort } from '../network-address.js';
import { CERT_CHAIN_FILE_NAME } from '../render/injection-bundle.js';
import type { RenderedInjection } from '../render/render-injection.js';
import type { BundleDelivery, RemoteStepOptions } from './bundle-delivery.js';
import type { VmSession } from './vm-shell.js';

/** How this service reaches istiod's CA (config `mesh.istioCa`). */
export interface IstioCaSettings {
  /** Defaults to the identity's discovery address. */
  address?: string;
  /** Defaults to the discovery address's host name. */
  servername?: string;
  validitySeconds: number;
  callTimeoutMs: number;
  logger?: Logger;
  /** Opens a client of istiod's CA (the gRPC adapter, src/mesh/istio-ca/istio-ca-client.ts). */
  connect: (connection: CertificateAuthorityConnection) => CertificateAuthority;
}

export interface CertificateAuthorityConnection {
  /** `host:port` of istiod's CA. */
  address: string;
  /** The mesh root certificate (PEM); istiod's serving certificate must chain to it. */
  rootCertificatePem: string;
  servername?: string;
  callTimeoutMs: number;
  logger?: Logger;
}

/** Port: istiod's CreateCertificate, as pilot-agent calls it. */
export interface CertificateAuthority {
  createCertificate(input: { csrPem: string; validitySeconds: number; token: string; clusterId?: string; signal?: AbortSignal }): Promise<{ certChain: string[]; rootCertificates: string[] }>;
  close(): void;
}

/** Where the CSR round trip runs: the open session, how bundles reach it, and the bundle's folder. */
export interface RemoteBundle {
  session: VmSession;
  delivery: BundleDelivery;
  remoteDir: string;
}

/** What the job records of the certificate: public facts only. */
export interface IssuedCertificate {
  spiffeId: string;
  serialNumber: string;
  notAfter: string;
  sha256Fingerprint: string;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function parsePemCertificates(pem: string): X509Certificate[] {
  return (pem.match(PEM_CERTIFICATE) ?? []).map((block) => new X509Certificate(block));
}

/** SAN entries are `URI:…, DNS:…`; a prefix match would let `…/sa/web` pass for `…/sa/web-admin`. */
export function hasUriSan(subjectAltName: string | undefined, uri: string): boolean {
  return (subjectAltName ?? '').split(',').some((entry) => entry.trim() === `URI:${uri}`);
}

function caAddress(rendered: RenderedInjection, settings: IstioCaSettings): { address: string; servername?: string } {
  const discovery = rendered.bundle.identity.discoveryAddress;
  const address = settings.address ?? discovery;
  const servername = settings.servername ?? splitHostPort(discovery)?.host;
  return servername === undefined || servername === splitHostPort(address)?.host ? { address } : { address, servername };
}

function rootCertificateOf(rendered: RenderedInjection): string {
  const file = rendered.bundle.files.find((candidate) => candidate.name === 'root-cert.pem');
  if (file === undefined) throw new AppError('INTERNAL', 'The bundle has no root-cert.pem.');
  return file.content.toString('utf8');
}

function inconsistent(message: string, details: Record<string, unknown>): AppError {
  return new AppError('MESH_INCONSISTENT', message, { details });
}

/**
 * pilot-agent would refuse a chain that does not lead to the mesh root or names another workload;
 * finding that here gives the operator a reason instead of a proxy that never turns ready.
 */
function checkChain(chain: X509Certificate[], roots: X509Certificate[], spiffeId: string): X509Certificate {
  const [leaf] = chain;
  if (leaf === undefined) throw inconsistent("istiod's CA returned no certificate.", {});
  if (!hasUriSan(leaf.subjectAltName, spiffeId)) {
    throw inconsistent(`The certificate istiod signed does not carry ${spiffeId}.`, { subjectAltName: leaf.subjectAltName ?? '' });
  }
  const path = [...chain];
  for (let index = 1; index < path.length; index += 1) {
    const child = path[index - 1] as X509Certificate;
    if (!child.verify((path[index] as X509Certificate).publicKey)) throw inconsistent('The certificate chain from istiod is not in order.', { position: index });
  }
  const top = path[path.length - 1] as X509Certificate;
  if (!roots.some((root) => top.checkIssued(root) && top.verify(root.publicKey))) {
    throw inconsistent("The certificate istiod signed does not chain to the mesh root certificate (istio-ca-root-cert).", { issuer: top.issuer });
  }
  return leaf;
}

/**
 * `certificates: istio-ca` (docs/istio-ca.md): the VM makes its key and CSR, the CSR alone comes
 * here, istiod signs it for the token's identity, and the chain goes back into the bundle the
 * install script then lays down. The key never leaves the VM; the token never reaches it.
 */
export async function issueWorkloadCertificate(
  remote: RemoteBundle,
  rendered: RenderedInjection,
  context: { settings: IstioCaSettings; options: RemoteStepOptions; signal: AbortSignal },
): Promise<IssuedCertificate> {
  const { settings, options } = context;
  const { identity } = rendered.bundle;
  const { session, delivery, remoteDir } = remote;
  const csrPem = await delivery.requestSigning(session, remoteDir, options);
  const rootPem = rootCertificateOf(rendered);
  const client = settings.connect({ ...caAddress(rendered, settings), rootCertificatePem: rootPem, callTimeoutMs: settings.callTimeoutMs, ...(settings.logger ? { logger: settings.logger } : {}) });
  let response;
  try {
    response = await client.createCertificate({ csrPem, validitySeconds: settings.validitySeconds, token: rendered.token, clusterId: identity.clusterId, signal: context.signal });
  } finally {
    client.close();
  }
  const entries = response.certChain.flatMap((pem) => parsePemCertificates(pem));
  // Without a separate root list, istiod ends cert_chain with the root; the VM gets that from root-cert.pem.
  const chain = response.rootCertificates.length > 0 ? entries : entries.slice(0, -1);
  const leaf = checkChain(chain, parsePemCertificates(rootPem), identity.spiffeId);
  const chainPem = chain.map((certificate) => certificate.toString()).join('');
  await delivery.writeFile(session, remoteDir, { name: CERT_CHAIN_FILE_NAME, content: Buffer.from(chainPem) }, options);
  return {
    spiffeId: identity.spiffeId,
    serialNumber: leaf.serialNumber,
    notAfter: new Date(leaf.validTo).toISOString(),
    sha256Fingerprint: leaf.fingerprint256,
  };
}
