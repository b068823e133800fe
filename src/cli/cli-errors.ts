import { isAppError } from '../errors.js';
import { redactText } from '../log.js';

export const EXIT_INVALID_INPUT = 2;
export const EXIT_FAILURE = 1;

/** One readable report per failure: the sentence, then every field problem on its own line. */
export function reportCliError(error: unknown, stderr: NodeJS.WritableStream = process.stderr): number {
  if (!isAppError(error)) {
    stderr.write(`vmsi: unexpected error: ${redactText(error instanceof Error ? error.message : String(error))}\n`);
    return EXIT_FAILURE;
  }
  stderr.write(`vmsi: ${error.code}: ${redactText(error.message)}\n`);
  for (const problem of error.problems) stderr.write(`  - ${problem.path}: ${problem.message}\n`);
  for (const [key, value] of Object.entries(error.details)) stderr.write(`  ${key}: ${redactText(JSON.stringify(value))}\n`);
  const isInputProblem = ['INVALID_SPEC', 'INVALID_CONFIG', 'INVALID_REQUEST', 'MESH_INCONSISTENT', 'GATEWAY_UNRESOLVED', 'USER_DATA_TOO_LARGE', 'PACKAGE_UNAVAILABLE'].includes(error.code);
  return isInputProblem ? EXIT_INVALID_INPUT : EXIT_FAILURE;
}
