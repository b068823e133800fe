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
/** Where the install script puts the token: tmpfs, as in Istio's VM guide, so a restart of the VM loses it. */
const ISTIO_TOKEN = '/var/run/secrets/tokens/istio-token';

/**
 * Every done check in one command, so verifying costs one channel and one sudo instead of one per
 * check (each is a round trip and a sudo start on the VM: about a second in all on a busy fleet).
 * Static: the URL, the certificate and the token path arrive as "$1", "$2" and "$3". Each answer is
 * a labelled line.
 */
const CHECKS_SCRIPT = `set -u
printf 'active=%s\\n' "$(systemctl is-active istio 2>/dev/null)"
printf 'enabled=%s\\n' "$(systemctl is-enabled istio 2>/dev/null)"
printf 'readiness=%s\\n' "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1")"
if test -s "$2"; then
  printf 'certificate=present\\n'
  openssl x509 -in "$2" -noout -ext subjectAltName | sed 's/^/san=/'
else
  printf 'certificate=absent\\n'
fi
if test -s "$3"; then printf 'token=present\\n'; else printf 'token=absent\\n'; fi`;

interface CheckAnswers {
  active: string;
  enabled: string;
  readiness: string;
  hasCertificate: boolean;
  /** 'present' or 'absent'; empty if the VM did not say. */
  token: string;
  /** openssl's subjectAltName extension, its heading line included. */
  subjectAltName: string[];
}

async function runChecks(session: VmSession, options: VerifyOptions): Promise<CheckAnswers> {
  const answers: CheckAnswers = { active: '', enabled: '', readiness: '', hasCertificate: false, token: '', subjectAltName: [] };
  await session.exec(['sh', '-c', CHECKS_SCRIPT, 'vmsi-verify', READY_URL, CERT_CHAIN, ISTIO_TOKEN], {
    timeoutMs: options.timeoutMs,
    sudo: needsSudo(options.spec),
    onLine: (stream, line) => {
      if (stream === 'stdout') recordAnswer(answers, line);
    },
  });
  return answers;
}

function recordAnswer(answers: CheckAnswers, line: string): void {
  const split = line.indexOf('=');
  const [key, value] = [line.slice(0, split), line.slice(split + 1).trim()];
  if (key === 'active' || key === 'enabled' || key === 'readiness') answers[key] = value;
  else if (key === 'certificate') answers.hasCertificate = value === 'present';
  else if (key === 'token') answers.token = value;
  else if (key === 'san') answers.subjectAltName.push(value);
}

/**
 * The certificate proves the identity istiod granted. The agent writes it after its first CSR,
 * which needs a reachable istiod; until then the check reports it as not yet issued.
 */
function checkCertificate(answers: CheckAnswers, expected: string): string {
  if (!answers.hasCertificate) return 'not-issued-yet';
  if (hasUriSan(answers.subjectAltName.slice(1).join(','), expected)) return 'matches';
  throw new AppError('SIDECAR_NOT_READY', `The workload certificate does not carry ${expected}.`, { details: { subjectAltName: answers.subjectAltName.join('\n') } });
}

/**
 * Done means done (Istio users' lesson 7): the unit is enabled and active and Envoy reports ready,
 * checked independently of what the install script said. Retryable: a proxy still starting settles.
 */
export async function verifySidecar(session: VmSession, options: VerifyOptions): Promise<JsonObject> {
  const answers = await runChecks(session, options);
  const checks = { active: answers.active, enabled: answers.enabled, readiness: answers.readiness };
  options.appendLog(`verify: istio ${checks.active}, ${checks.enabled}, readiness HTTP ${checks.readiness}`);
  if (checks.active !== 'active' || checks.enabled !== 'enabled' || checks.readiness !== '200') {
    throw new AppError('SIDECAR_NOT_READY', 'The sidecar is not enabled, active and ready.', { retryable: true, details: { ...checks, token: answers.token } });
  }
  return { ...checks, certificate: checkCertificate(answers, options.expectedSpiffeId), expectedSpiffeId: options.expectedSpiffeId };
}

/**
 * A proxy that is not ready and has no token left, where the token is its only way to a certificate:
 * the VM restarted since the install (the token is on tmpfs) and will never become ready by itself.
 */
export function hasLostItsToken(error: unknown, spec: InjectionSpec): boolean {
  return error instanceof AppError && error.code === 'SIDECAR_NOT_READY' && spec.mesh.certificates === 'token' && error.details.token === 'absent';
}
