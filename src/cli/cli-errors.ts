import { isAppError, type AppError, type ErrorCode } from '../errors.js';
import { redact, redactText } from '../log.js';

export const EXIT_INVALID_INPUT = 2;
export const EXIT_FAILURE = 1;

const INPUT_PROBLEMS: ReadonlySet<ErrorCode> = new Set(['INVALID_SPEC', 'INVALID_CONFIG', 'INVALID_REQUEST', 'MESH_INCONSISTENT', 'GATEWAY_UNRESOLVED', 'USER_DATA_TOO_LARGE', 'PACKAGE_UNAVAILABLE']);

/** What to try next, per problem code: the sentence says what went wrong, the hint where to look. */
const HINTS: Partial<Record<ErrorCode, string>> = {
  INVALID_SPEC: 'Fix each listed field; docs/injection-spec.schema.json describes the spec.',
  INVALID_CONFIG: 'Fix each listed key; `vmsi doctor` checks the whole setup, docs/configuration.md lists every key.',
  INVALID_REQUEST: 'Check the command line and the listed fields against `vmsi <command> --help`.',
  UNAUTHENTICATED: 'Pass the API token with --token-file (default <dataDir>/api-token).',
  FORBIDDEN: "The token lacks the scope this needs (read, write or secrets); see http.auth.tokens.",
  NOT_FOUND: 'List what exists with `vmsi jobs` or `vmsi orchestrator status NAME`.',
  CONFLICT: 'Another change is under way; wait for it (`vmsi status ID`) and retry.',
  SERVICE_UNREACHABLE: 'Start the service (`vmsi serve`, `systemctl start vmsi`) or pass --url; `vmsi doctor` checks the remote services.',
  CREDENTIALS_UNAVAILABLE: 'The control plane credentials are missing or refused; `vmsi doctor` checks them (files, RBAC, istiod CA).',
  SECRET_UNAVAILABLE: 'Put the named secret in <dataDir>/secrets/NAME (mode 0600), or name an existing file.',
  GATEWAY_UNRESOLVED: 'Give the east-west gateway an IP (mesh.gateway.ip) or a name this host resolves.',
  MESH_INCONSISTENT: 'The spec and the control plane disagree (cluster ID, service account, root); align them as the message says.',
  USER_DATA_TOO_LARGE: 'Deliver over SSH instead, or push the package from the artifact cache: Nova caps user_data at 64 KiB.',
  PACKAGE_UNAVAILABLE: 'Check package.url and package.sha256, or put the package in the artifacts folder.',
  SSH_CONNECT_FAILED: 'Check the VM address, security groups and that sshd runs; jobs retry until jobs.connectDeadline.',
  SSH_AUTH_FAILED: "The VM refused the key: check the user and that the key is in the VM's authorized_keys.",
  SSH_HOST_KEY_MISMATCH: 'The VM presents another host key than recorded: verify it, then remove its line from <dataDir>/known_hosts.',
  SSH_HOST_KEY_UNKNOWN: 'Pin the host key in the spec (vm.ssh.hostKey) or allow accept-new.',
  REMOTE_COMMAND_FAILED: 'Read the job log (`vmsi status ID`): the install script names the failing step.',
  REMOTE_COMMAND_TIMEOUT: 'The command outlived jobs.commandTimeout; read the job log and raise it if the VM is just slow.',
  SIDECAR_NOT_READY: "The proxy did not become ready: see the job log and `journalctl -u istio` on the VM.",
  REGISTRY_FAILED: 'The WorkloadEntry could not be written; `vmsi doctor` checks the Kubernetes permissions.',
  NOTIFICATION_FAILED: 'The webhook did not accept the event; check notify.webhook.url and its secret.',
  STEP_TIMEOUT: 'Read the job log (`vmsi status ID`), then `vmsi retry ID` once the cause is fixed.',
  INJECTION_FAILED: 'Read the job log (`vmsi status ID`), then `vmsi retry ID` or `vmsi reonboard ID`.',
  DEPLOYMENT_WAITING: 'Follow it with `vmsi orchestrator status NAME`.',
  INTERNAL: 'This is a bug: the service log has the details under the same time.',
};

export function hintFor(code: ErrorCode): string | undefined {
  return HINTS[code];
}

export interface CliErrorOutput {
  stderr: NodeJS.WritableStream;
  /** One JSON object (code, detail, problems, details, hint) instead of lines. */
  asJson?: boolean;
}

function reportAppError(error: AppError, output: CliErrorOutput): void {
  const hint = hintFor(error.code);
  if (output.asJson === true) {
    const problem = { code: error.code, detail: redactText(error.message), problems: error.problems, details: redact(error.details), retryable: error.retryable, ...(hint === undefined ? {} : { hint }) };
    output.stderr.write(`${JSON.stringify(problem)}\n`);
    return;
  }
  output.stderr.write(`vmsi: ${error.code}: ${redactText(error.message)}\n`);
  for (const problem of error.problems) output.stderr.write(`  - ${problem.path}: ${problem.message}\n`);
  for (const [key, value] of Object.entries(error.details)) output.stderr.write(`  ${key}: ${redactText(JSON.stringify(value))}\n`);
  if (hint !== undefined) output.stderr.write(`  hint: ${hint}\n`);
}

/** One readable report per failure: the code and sentence, every field problem on its own line, then a hint. */
export function reportCliError(error: unknown, output: CliErrorOutput = { stderr: process.stderr }): number {
  if (!isAppError(error)) {
    const message = redactText(error instanceof Error ? error.message : String(error));
    output.stderr.write(output.asJson === true ? `${JSON.stringify({ code: 'INTERNAL', detail: message, hint: HINTS.INTERNAL })}\n` : `vmsi: unexpected error: ${message}\n`);
    return EXIT_FAILURE;
  }
  reportAppError(error, output);
  return INPUT_PROBLEMS.has(error.code) ? EXIT_INVALID_INPUT : EXIT_FAILURE;
}
