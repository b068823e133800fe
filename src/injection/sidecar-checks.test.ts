import { expect } from 'chai';
import { parseInjectionSpec } from '../injection-spec.js';
import type { ExecOptions, ExecResult, VmSession } from './vm-shell.js';
import { validSpecInput } from '../../test/support/spec-fixtures.js';
import { rejection } from '../../test/support/app-error-assertions.js';
import { hasLostItsToken, verifySidecar } from './sidecar-checks.js';

const SPIFFE_ID = 'spiffe://cluster.local/ns/vm-ns/sa/vm-sa';

/** Answers the verify command with fixed stdout lines and records what it was asked to run. */
class AnsweringSession implements VmSession {
  readonly hostKeyFingerprint = 'SHA256:test';
  readonly commands: string[][] = [];

  constructor(private readonly stdout: string[]) {}

  exec(argv: string[], options: ExecOptions): Promise<ExecResult> {
    this.commands.push(argv);
    for (const line of this.stdout) options.onLine?.('stdout', line);
    return Promise.resolve({ exitCode: 0 });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function verify(session: VmSession): ReturnType<typeof verifySidecar> {
  return verifySidecar(session, { spec: parseInjectionSpec(validSpecInput()), expectedSpiffeId: SPIFFE_ID, timeoutMs: 5_000, appendLog: () => undefined });
}

describe('verifySidecar', function () {
  it('runs every done check in one static command and reads its labelled answers', async function () {
    const session = new AnsweringSession(['active=active', 'enabled=enabled', 'readiness=200', 'certificate=present', 'san=X509v3 Subject Alternative Name: critical', `san=    URI:${SPIFFE_ID}`]);
    expect(await verify(session)).to.deep.include({ active: 'active', enabled: 'enabled', readiness: '200', certificate: 'matches' });
    expect(session.commands).to.have.length(1);
    expect(session.commands[0]?.slice(0, 2)).to.deep.equal(['sh', '-c']);
    expect(session.commands[0]?.slice(3)).to.deep.equal(['vmsi-verify', 'http://localhost:15021/healthz/ready', '/etc/certs/cert-chain.pem', '/var/run/secrets/tokens/istio-token']);
  });

  it('reports a certificate not issued yet, and a retryable SIDECAR_NOT_READY while Envoy is not ready', async function () {
    expect(await verify(new AnsweringSession(['active=active', 'enabled=enabled', 'readiness=200', 'certificate=absent']))).to.include({ certificate: 'not-issued-yet' });
    const error = await rejection(verify(new AnsweringSession(['active=active', 'enabled=enabled', 'readiness=503', 'certificate=absent', 'token=present'])));
    expect(error).to.include({ code: 'SIDECAR_NOT_READY', retryable: true });
    expect(hasLostItsToken(error, parseInjectionSpec(validSpecInput()))).to.equal(false);
  });

  it('tells a proxy that lost its tmpfs token (the VM restarted) from one still starting', async function () {
    const spec = parseInjectionSpec(validSpecInput());
    const lost = await rejection(verify(new AnsweringSession(['active=active', 'enabled=enabled', 'readiness=503', 'certificate=present', 'token=absent'])));
    expect(lost.details).to.include({ token: 'absent' });
    expect(hasLostItsToken(lost, spec)).to.equal(true);
    // With certificates from the Istio CA the proxy needs no token to start again.
    expect(hasLostItsToken(lost, { ...spec, mesh: { ...spec.mesh, certificates: 'istio-ca' } })).to.equal(false);
  });

  it('fails when the certificate carries another identity', async function () {
    const error = await rejection(verify(new AnsweringSession(['active=active', 'enabled=enabled', 'readiness=200', 'certificate=present', 'san=X509v3 Subject Alternative Name:', 'san=    URI:spiffe://cluster.local/ns/other/sa/other'])));
    expect(error).to.include({ code: 'SIDECAR_NOT_READY' });
    expect(error.message).to.contain(SPIFFE_ID);
  });
});
