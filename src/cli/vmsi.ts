#!/usr/bin/env node
import { reportCliError } from './cli-errors.js';
import { buildProgram } from './vmsi-program.js';

const program = buildProgram();

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const code = (error as { code?: string }).code;
  if (typeof code === 'string' && code.startsWith('commander.')) {
    process.exitCode = (error as { exitCode?: number }).exitCode ?? 2;
  } else {
    // A script that asked for JSON gets its failure as JSON too, on stderr.
    process.exitCode = reportCliError(error, { stderr: process.stderr, asJson: process.argv.includes('--json') });
  }
}
