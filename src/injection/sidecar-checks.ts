import { AppError } from '../errors.js';
import type { InjectionSpec } from '../injection-spec.js';
import type { JsonObject } from '../jobs/job.js';
import type { VmSession } from './vm-shell.js';
import { needsSudo } from './injection-target.js';
import { hasUriSan } from './workload-certificate.js';

export interface VerifyOptions {
  spec: InjectionSpec;
  /** From the credentials step: the identity the control plane will grant. */
  expectedSpiffeId: string;
  timeoutMs: number;
  appendLog: (line: string) => void;
}

const CERT_CHAIN = '/etc/certs/cert-chain.pem';
const READY_URL = 'http://localhost:15021/healthz/ready';

async function capture(session: VmSession, argv: string[], options: VerifyOptions): Promise<{ exitCode: number; stdout: string }> {
  const lines: string[] = [];
  const { exitCode } = await session.exec(argv, {
    timeoutMs: options.timeoutMs,
    sudo: needsSudo(options.spec),
    onLine: (stream, line) => {
      if (stream === 'stdout') lines.push(line);
    },
  });
  return { exitCode, stdout: lines.join('\n').trim() };
}

/**
 * The certificate proves the identity istiod granted. The agent writes it after its first CSR,
 * which needs a reachable istiod; until then the check reports it as not yet issued.
 */
async function checkCertificate(session: VmSession, options: VerifyOptions, expected: string): Promise<string> {
  const present = await capture(session, ['test', '-s', CERT_CHAIN], options);
  if (present.exitCode !== 0) return 'not-issued-yet';
  const san = await capture(session, ['openssl', 'x509', '-in', CERT_CHAIN, '-noout', '-ext', 'subjectAltName'], options);
  if (hasUriSan(san.stdout.split('\n').slice(1).join(','), expected)) return 'matches';
  throw new AppError('SIDECAR_NOT_READY', `The workload certificate does not carry ${expected}.`, { details: { subjectAltName: san.stdout } });
}

/**
 * Done means done (Istio users' lesson 7): the unit is enabled and active and Envoy reports ready,
 * checked independently of what the install script said. Retryable: a proxy still starting settles.
 */
export async function verifySidecar(session: VmSession, options: VerifyOptions): Promise<JsonObject> {
  const active = await capture(session, ['systemctl', 'is-active', 'istio'], options);
  const enabled = await capture(session, ['systemctl', 'is-enabled', 'istio'], options);
  const ready = await capture(session, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', READY_URL], options);
  const checks = { active: active.stdout, enabled: enabled.stdout, readiness: ready.stdout };
  options.appendLog(`verify: istio ${checks.active}, ${checks.enabled}, readiness HTTP ${checks.readiness}`);
  if (checks.active !== 'active' || checks.enabled !== 'enabled' || checks.readiness !== '200') {
    throw new AppError('SIDECAR_NOT_READY', 'The sidecar is not enabled, active and ready.', { retryable: true, details: checks });
  }
  return { ...checks, certificate: await checkCertificate(session, options, options.expectedSpiffeId), expectedSpiffeId: options.expectedSpiffeId };
}
