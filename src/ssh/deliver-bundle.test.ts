import { expect } from 'chai';
import type { Readable } from 'node:stream';
import { AppError } from '../errors.js';
import type { InjectionBundle } from '../render/injection-bundle.js';
import { deliverBundle, parseResultLine, runInstallScript } from './deliver-bundle.js';
import type { ExecOptions, ExecResult, VmSession } from '../injection/vm-shell.js';

interface Scripted {
  lines?: Array<['stdout' | 'stderr', string]>;
  result?: ExecResult;
  error?: AppError;
}

/** A VmSession that plays back scripted outcomes and records what was asked of it. */
class ScriptedSession implements VmSession {
  readonly hostKeyFingerprint = 'SHA256:test';
  readonly calls: Array<{ argv: string[]; sudo: boolean; stdinBytes: number }> = [];
  constructor(private readonly script: Scripted[]) {}

  async exec(argv: string[], options: ExecOptions): Promise<ExecResult> {
    const stdinBytes = options.stdin === undefined ? 0 : await byteCount(options.stdin);
    this.calls.push({ argv, sudo: options.sudo === true, stdinBytes });
    const next = this.script.shift() ?? { result: { exitCode: 0 } };
    for (const [stream, line] of next.lines ?? []) options.onLine?.(stream, line);
    if (next.error !== undefined) throw next.error;
    return next.result ?? { exitCode: 0 };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

async function byteCount(stream: Readable): Promise<number> {
  let total = 0;
  for await (const chunk of stream) total += (chunk as Buffer).length;
  return total;
}

const bundle: InjectionBundle = {
  files: [{ name: 'install-sidecar.sh', content: Buffer.from('#!/bin/bash\n'), mode: 0o700, isSecret: false }],
  identity: { trustDomain: 'cluster.local', clusterId: 'Kubernetes', spiffeId: 'spiffe://cluster.local/ns/a/sa/b', discoveryAddress: 'istiod:15012' },
};
const dir = '/run/vmsi/bundle-1';
const installed = 'VMSI-RESULT {"status":"installed","changed":true,"spiffeId":"spiffe://cluster.local/ns/a/sa/b","reason":""}';
const failed = 'VMSI-RESULT {"status":"failed","changed":false,"spiffeId":"","reason":"preflight: iptables has no working backend"}';

async function failureOf(promise: Promise<unknown>): Promise<AppError> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error as AppError,
  );
}

describe('bundle delivery over a VmSession', function () {
  it('unpacks the tar stream with one sudo command whose script is static and whose directory is an argument', async function () {
    const session = new ScriptedSession([]);
    await deliverBundle(session, bundle, dir, { timeoutMs: 1_000 });
    expect(session.calls).to.have.length(1);
    const [call] = session.calls;
    expect(call!.sudo).to.equal(true);
    expect(call!.argv.slice(0, 2)).to.deep.equal(['sh', '-c']);
    expect(call!.argv.at(-1)).to.equal(dir);
    expect(call!.argv[2]).to.not.contain(dir);
    expect(call!.stdinBytes % 512).to.equal(0);
    expect(call!.stdinBytes).to.be.greaterThan(1024);
  });

  it('refuses remote directories that rm -rf could turn into a disaster', async function () {
    for (const bad of ['/', '/run', 'relative/dir', '/run/../etc', '/run/./x', '/run/a b', '/run/$(x)', '/run/vmsi/']) {
      const failure = await failureOf(deliverBundle(new ScriptedSession([]), bundle, bad, { timeoutMs: 1_000 }));
      expect(failure.code, bad).to.equal('INTERNAL');
    }
  });

  it('reports a failed unpack with the last stderr line', async function () {
    const session = new ScriptedSession([{ lines: [['stderr', 'tar: write error: No space left on device']], result: { exitCode: 2 } }]);
    const failure = await failureOf(deliverBundle(session, bundle, dir, { timeoutMs: 1_000 }));
    expect(failure.code).to.equal('REMOTE_COMMAND_FAILED');
    expect(failure.details).to.include({ reason: 'tar: write error: No space left on device', exitCode: 2 });
  });

  it('runs the script with sudo through bash, streams its lines, returns its result and removes the bundle', async function () {
    const session = new ScriptedSession([{ lines: [['stdout', 'installing'], ['stdout', installed]] }]);
    const seen: string[] = [];
    const result = await runInstallScript(session, dir, 'install', { timeoutMs: 1_000, onLine: (_stream, line) => seen.push(line) });
    expect(result).to.deep.equal({ status: 'installed', changed: true, spiffeId: 'spiffe://cluster.local/ns/a/sa/b', reason: '' });
    expect(seen).to.deep.equal(['installing', installed]);
    expect(session.calls.map((call) => [call.argv, call.sudo])).to.deep.equal([
      [['bash', `${dir}/install-sidecar.sh`, 'install', dir], true],
      [['rm', '-rf', '--', dir], true],
    ]);
  });

  it('runs everything without sudo when the login user is root', async function () {
    const session = new ScriptedSession([{}, { lines: [['stdout', installed]] }]);
    await deliverBundle(session, bundle, dir, { timeoutMs: 1_000, sudo: false });
    await runInstallScript(session, dir, 'install', { timeoutMs: 1_000, sudo: false });
    expect(session.calls.map((call) => call.sudo)).to.deep.equal([false, false, false]);
  });

  it('turns a failed run into REMOTE_COMMAND_FAILED with the one-line reason, not retryable, and still removes the bundle', async function () {
    const session = new ScriptedSession([{ lines: [['stdout', failed]], result: { exitCode: 1 } }]);
    const failure = await failureOf(runInstallScript(session, dir, 'install', { timeoutMs: 1_000 }));
    expect(failure.code).to.equal('REMOTE_COMMAND_FAILED');
    expect(failure.retryable).to.equal(false);
    expect(failure.message).to.contain('preflight: iptables has no working backend');
    expect(failure.details).to.include({ status: 'failed', exitCode: 1 });
    expect(session.calls.at(-1)!.argv).to.deep.equal(['rm', '-rf', '--', dir]);
  });

  it('makes a run stopped by a signal retryable: the script rolled back, and the VM may be shutting down', async function () {
    const interrupted = 'VMSI-RESULT {"status":"failed","changed":false,"spiffeId":"","reason":"package: interrupted by a signal"}';
    const stoppedScript = await failureOf(runInstallScript(new ScriptedSession([{ lines: [['stdout', interrupted]], result: { exitCode: 130 } }]), dir, 'install', { timeoutMs: 1_000 }));
    expect(stoppedScript.code).to.equal('REMOTE_COMMAND_FAILED');
    expect(stoppedScript.retryable).to.equal(true);
    expect(stoppedScript.details).to.include({ interrupted: true, exitCode: 130 });
    const killed = await failureOf(runInstallScript(new ScriptedSession([{ result: { exitCode: 137, signal: 'SIGKILL' } }]), dir, 'install', { timeoutMs: 1_000 }));
    expect(killed.retryable).to.equal(true);
  });

  it('falls back to stderr for the reason when the script died without a result line', async function () {
    const session = new ScriptedSession([{ lines: [['stderr', 'bash: install-sidecar.sh: No such file or directory']], result: { exitCode: 127 } }]);
    const failure = await failureOf(runInstallScript(session, dir, 'remove', { timeoutMs: 1_000 }));
    expect(failure.details).to.include({ reason: 'bash: install-sidecar.sh: No such file or directory', step: 'remove' });
  });

  it('keeps a lost connection retryable as it is, and a failed cleanup does not hide it', async function () {
    const lost = new AppError('SSH_CONNECTION_LOST', 'lost', { retryable: true });
    const session = new ScriptedSession([{ error: lost }, { error: lost }]);
    expect(await failureOf(runInstallScript(session, dir, 'install', { timeoutMs: 1_000 }))).to.equal(lost);
  });

  it('fails a successful run whose bundle could not be removed, retryably: the token must not stay behind', async function () {
    const session = new ScriptedSession([{ lines: [['stdout', installed]] }, { result: { exitCode: 1 } }]);
    const failure = await failureOf(runInstallScript(session, dir, 'install', { timeoutMs: 1_000 }));
    expect(failure.code).to.equal('REMOTE_COMMAND_FAILED');
    expect(failure.retryable).to.equal(true);
    expect(failure.details).to.include({ step: 'remove-bundle' });
  });

  it('parses only well-formed result lines', function () {
    expect(parseResultLine(installed)?.status).to.equal('installed');
    expect(parseResultLine('VMSI-RESULT {"status":"weird"}')).to.equal(undefined);
    expect(parseResultLine('VMSI-RESULT not json')).to.equal(undefined);
  });
});
