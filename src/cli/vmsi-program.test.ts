import { expect } from 'chai';
import type { Command } from 'commander';
import { Writable } from 'node:stream';
import { AppError, type ErrorCode } from '../errors.js';
import { hintFor, reportCliError } from './cli-errors.js';
import { buildProgram } from './vmsi-program.js';

function leafCommands(command: Command, prefix = ''): Array<{ name: string; command: Command }> {
  if (command.commands.length === 0) return [{ name: prefix.trim(), command }];
  return command.commands.flatMap((child) => leafCommands(child, `${prefix} ${child.name()}`));
}

function capture(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

describe('vmsi command line', function () {
  it('offers --json on every command that prints data (all but serve, which only logs)', function () {
    const leaves = leafCommands(buildProgram());
    expect(leaves.map((leaf) => leaf.name)).to.include.members(['render', 'config check', 'doctor', 'inject', 'jobs', 'status', 'tacker subscribe', 'orchestrator status']);
    const withoutJson = leaves.filter((leaf) => leaf.name !== 'serve' && !leaf.command.options.some((option) => option.long === '--json')).map((leaf) => leaf.name);
    expect(withoutJson).to.deep.equal([]);
  });

  it('prints the problem code, each field problem and a hint for an error', function () {
    const output = capture();
    const code = reportCliError(new AppError('INVALID_CONFIG', 'Configuration is invalid.', { problems: [{ path: 'http.port', message: 'expected number' }] }), { stderr: output.stream });
    expect(code).to.equal(2);
    expect(output.text()).to.equal(`vmsi: INVALID_CONFIG: Configuration is invalid.\n  - http.port: expected number\n  hint: ${hintFor('INVALID_CONFIG')}\n`);
  });

  it('prints the error as one JSON object when --json was asked for, secrets redacted', function () {
    const output = capture();
    const code = reportCliError(new AppError('SERVICE_UNREACHABLE', 'The service at http://127.0.0.1:8080 does not answer.', { retryable: true, details: { authorization: 'Bearer abc' } }), { stderr: output.stream, asJson: true });
    expect(code).to.equal(1);
    const problem = JSON.parse(output.text()) as Record<string, unknown>;
    expect(problem).to.include({ code: 'SERVICE_UNREACHABLE', retryable: true, hint: hintFor('SERVICE_UNREACHABLE') });
    expect(output.text()).not.to.include('Bearer abc');
  });

  it('has a hint for every problem code a command can end with', function () {
    const codes: ErrorCode[] = ['INVALID_SPEC', 'INVALID_CONFIG', 'INVALID_REQUEST', 'UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'CONFLICT', 'SERVICE_UNREACHABLE', 'CREDENTIALS_UNAVAILABLE', 'SSH_HOST_KEY_MISMATCH', 'INJECTION_FAILED', 'INTERNAL'];
    expect(codes.filter((code) => hintFor(code) === undefined)).to.deep.equal([]);
  });
});
