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

/**
 * Every done check in one command, so verifying costs one channel and one sudo instead of one per
 * check (each is a round trip and a sudo start on the VM: about a second in all on a busy fleet).
 * Static: the URL and the certificate path arrive as "$1" and "$2". Each answer is a labelled line.
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
fi`;

interface CheckAnswers {
  active: string;
  enabled: string;
  readiness: string;
  hasCertificate: boolean;
  /** openssl's subjectAltName extension, its heading line included. */
  subjectAltName: string[];
}

async function runChecks(session: VmSession, options: VerifyOptions): Promise<CheckAnswers> {
  const answers: CheckAnswers = { active: '', enabled: '', readiness: '', hasCertificate: false, subjectAltName: [] };
  await session.exec(['sh', '-c', CHECKS_SCRIPT, 'vmsi-verify', READY_URL, CERT_CHAIN], {
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
    throw new AppError('SIDECAR_NOT_READY', 'The sidecar is not enabled, active and ready.', { retryable: true, details: checks });
  }
  return { ...checks, certificate: checkCertificate(answers, options.expectedSpiffeId), expectedSpiffeId: options.expectedSpiffeId };
}
