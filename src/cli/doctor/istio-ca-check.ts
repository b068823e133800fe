import { checkServerIdentity, connect } from 'node:tls';
import { isIP } from 'node:net';
import type { Config } from '../../config.js';
import type { Logger } from '../../log.js';
import { meshCredentialsOf } from '../../main.js';
import { splitHostPort } from '../../network-address.js';
import { check, failedCheck, type CheckResult } from './doctor-check.js';

const TITLE = "istiod's CA reachable with the mesh root";
const HANDSHAKE_TIMEOUT_MS = 10_000;

interface CaTarget {
  host: string;
  port: number;
  servername: string;
}

/** istiod's CA port, when an address names none. */
const CA_PORT = 15012;

function targetOf(address: string): { host: string; port: number } {
  return splitHostPort(address) ?? { host: address, port: CA_PORT };
}

function discoveryAddressOf(meshConfig: { defaultConfig?: Record<string, unknown> }): string | undefined {
  const address = meshConfig.defaultConfig?.discoveryAddress;
  return typeof address === 'string' && address !== '' ? address : undefined;
}

interface Handshake {
  /** Why the certificate does not verify against the root for the name; undefined when it does. */
  rejection?: string;
  names: string;
}

/**
 * The TLS handshake pilot-agent makes first. It completes whatever the certificate is, so that a
 * reachable CA with the wrong root is told apart from an unreachable one: istiod's certificate
 * must chain to the root the VMs receive and carry the name they check.
 */
function handshake(target: CaTarget, rootPem: string): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port, ca: rootPem, ALPNProtocols: ['h2'], rejectUnauthorized: false, ...(isIP(target.servername) === 0 ? { servername: target.servername } : {}), timeout: HANDSHAKE_TIMEOUT_MS }, () => {
      const certificate = socket.getPeerCertificate();
      const nameProblem = checkServerIdentity(target.servername, certificate);
      const rejection = socket.authorized ? nameProblem?.message : String(socket.authorizationError);
      socket.end();
      resolve({ names: certificate.subjectaltname ?? '', ...(rejection === undefined ? {} : { rejection }) });
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`no TLS handshake within ${HANDSHAKE_TIMEOUT_MS / 1000}s`));
    });
    socket.once('error', reject);
  });
}

function rootMismatch(target: CaTarget, rejection: string): CheckResult {
  return check('istio-ca', TITLE, {
    status: 'fail',
    detail: `${target.host}:${target.port} answers, but its certificate does not verify against the mesh root for ${target.servername}: ${rejection}`,
    hint: 'The root certificate VMs receive (istio-ca-root-cert, or root-cert.pem) must be the CA istiod serves with; set mesh.istioCa.servername when the address is not the certificate name.',
    code: 'MESH_INCONSISTENT',
  });
}

/**
 * The root certificate renders put on VMs, per workload namespace: without it every render and
 * injection answers CREDENTIALS_UNAVAILABLE.
 */
export async function meshRootCheck(config: Config, logger: Logger, namespaces: string[]): Promise<CheckResult> {
  const title = 'Mesh root certificate available';
  const missing: string[] = [];
  try {
    const credentials = await meshCredentialsOf(config, logger);
    for (const namespace of namespaces) {
      await credentials.rootCertificate(namespace).catch((error: unknown) => missing.push(`${namespace}: ${error instanceof Error ? error.message : String(error)}`));
    }
  } catch (error) {
    return failedCheck('mesh-root', title, error, 'Fix the mesh credentials settings first (mesh.credentials, kubernetes).');
  }
  const source = config.mesh.credentials.kind === 'file' ? `files in ${config.mesh.credentials.dir}` : 'ConfigMap istio-ca-root-cert';
  if (missing.length > 0) {
    const hint = config.mesh.credentials.kind === 'file' ? 'Put the root certificate at <dataDir>/mesh-credentials/root-cert.pem (docs/configuration.md).' : 'istiod writes istio-ca-root-cert into namespaces it watches: is the namespace part of the mesh?';
    return check('mesh-root', title, { status: 'fail', detail: `missing for ${missing.length} of ${namespaces.length} namespaces (${source})`, findings: missing, hint, code: 'CREDENTIALS_UNAVAILABLE' });
  }
  return check('mesh-root', title, { status: 'pass', detail: `for ${namespaces.join(', ')} (${source})` });
}

export interface IstioCaScope {
  namespace: string;
  istioNamespace: string;
  revision?: string;
}

export async function istioCaCheck(config: Config, logger: Logger, scope: IstioCaScope): Promise<CheckResult> {
  let target: CaTarget;
  let rootPem: string;
  try {
    const credentials = await meshCredentialsOf(config, logger);
    const discovery = discoveryAddressOf((await credentials.controlPlaneSettings(scope.istioNamespace, scope.revision)).meshConfig);
    const address = config.mesh.istioCa.address ?? discovery;
    if (address === undefined) return check('istio-ca', TITLE, { status: 'info', detail: 'no mesh.istioCa.address and no discoveryAddress in the mesh config' });
    const { host, port } = targetOf(address);
    // As the injection steps do: istiod's certificate names the discovery address, whatever address reaches it.
    target = { host, port, servername: config.mesh.istioCa.servername ?? (discovery === undefined ? host : targetOf(discovery).host) };
    rootPem = await credentials.rootCertificate(scope.namespace);
  } catch (error) {
    return failedCheck('istio-ca', TITLE, error, 'The mesh credentials (root certificate, mesh config) must be readable first; see the credentials and RBAC checks.');
  }
  let result: Handshake;
  try {
    result = await handshake(target, rootPem);
  } catch (error) {
    return failedCheck('istio-ca', TITLE, error, `Make ${target.host}:${target.port} reachable from this host (mesh.istioCa.address), e.g. through the east-west gateway.`);
  }
  if (result.rejection !== undefined) return rootMismatch(target, result.rejection);
  return check('istio-ca', TITLE, { status: 'pass', detail: `${target.host}:${target.port} presents a certificate for ${target.servername} signed by the root of namespace ${scope.namespace}${result.names === '' ? '' : ` (${result.names})`}` });
}
