import { connect } from 'node:tls';
import { isIP } from 'node:net';
import type { Config } from '../../config.js';
import type { Logger } from '../../log.js';
import { meshCredentialsOf } from '../../main.js';
import { check, failedCheck, type CheckResult } from './doctor-check.js';

const TITLE = "istiod's CA reachable with the mesh root";
const HANDSHAKE_TIMEOUT_MS = 10_000;

interface CaTarget {
  host: string;
  port: number;
  servername: string;
}

function splitHostPort(address: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  return match === null ? { host: address, port: 15012 } : { host: match[1] as string, port: Number(match[2]) };
}

function discoveryAddressOf(meshConfig: { defaultConfig?: Record<string, unknown> }): string | undefined {
  const address = meshConfig.defaultConfig?.discoveryAddress;
  return typeof address === 'string' && address !== '' ? address : undefined;
}

/** The TLS handshake pilot-agent makes first: istiod's certificate must chain to the root the VMs receive. */
function handshake(target: CaTarget, rootPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port, ca: rootPem, ALPNProtocols: ['h2'], ...(isIP(target.servername) === 0 ? { servername: target.servername } : {}), timeout: HANDSHAKE_TIMEOUT_MS }, () => {
      const subject = socket.getPeerCertificate().subjectaltname ?? '';
      socket.end();
      resolve(subject);
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`no TLS handshake within ${HANDSHAKE_TIMEOUT_MS / 1000}s`));
    });
    socket.once('error', reject);
  });
}

function tlsFailure(target: CaTarget, error: unknown): CheckResult {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  const where = `${target.host}:${target.port}`;
  if (/CERT|SELF_SIGNED|ERR_TLS_CERT_ALTNAME/.test(code)) {
    return check('istio-ca', TITLE, {
      status: 'fail',
      detail: `${where} answers, but its certificate does not verify against the mesh root for ${target.servername} (${code})`,
      hint: 'The root certificate VMs receive (istio-ca-root-cert, or root-cert.pem) must be the CA istiod serves with; set mesh.istioCa.servername when the address is not the certificate name.',
      code: 'MESH_INCONSISTENT',
    });
  }
  return failedCheck('istio-ca', TITLE, error, `Make ${where} reachable from this host (mesh.istioCa.address), e.g. through the east-west gateway.`);
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
    const address = config.mesh.istioCa.address ?? discoveryAddressOf((await credentials.controlPlaneSettings(scope.istioNamespace, scope.revision)).meshConfig);
    if (address === undefined) return check('istio-ca', TITLE, { status: 'info', detail: 'no mesh.istioCa.address and no discoveryAddress in the mesh config' });
    const { host, port } = splitHostPort(address);
    target = { host, port, servername: config.mesh.istioCa.servername ?? host };
    rootPem = await credentials.rootCertificate(scope.namespace);
  } catch (error) {
    return failedCheck('istio-ca', TITLE, error, 'The mesh credentials (root certificate, mesh config) must be readable first; see the credentials and RBAC checks.');
  }
  try {
    const names = await handshake(target, rootPem);
    return check('istio-ca', TITLE, { status: 'pass', detail: `${target.host}:${target.port} presents a certificate for ${target.servername} signed by the root of namespace ${scope.namespace}${names === '' ? '' : ` (${names})`}` });
  } catch (error) {
    return tlsFailure(target, error);
  }
}
