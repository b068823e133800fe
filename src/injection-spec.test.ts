import { expect } from 'chai';
import { AppError } from './errors.js';
import { parseInjectionSpec } from './injection-spec.js';
import { validSpecInput } from '../test/support/spec-fixtures.js';

function problemsOf(input: unknown): Array<{ path: string; message: string }> {
  try {
    parseInjectionSpec(input);
  } catch (error) {
    expect(error).to.be.instanceOf(AppError);
    expect((error as AppError).code).to.equal('INVALID_SPEC');
    return (error as AppError).problems;
  }
  throw new Error('expected the spec to be rejected');
}

describe('injection spec', function () {
  it('fills every default a minimal spec leaves out', function () {
    const spec = parseInjectionSpec(validSpecInput());
    expect(spec.vm.ssh?.port).to.equal(22);
    expect(spec.vm.ssh?.hostKey).to.deep.equal({ policy: 'accept-new' });
    expect(spec.mesh).to.include({ istioNamespace: 'istio-system', dnsCapture: true, autoRegister: false, network: '' });
    expect(spec.delivery).to.deep.equal({ method: 'ssh', readyTimeout: '180s' });
  });

  it('writes IPv6 addresses in canonical form', function () {
    const spec = parseInjectionSpec(validSpecInput({ vm: { name: 'v', address: '2001:DB8:0:0:0:0:0:0010', ssh: { user: 'u', privateKeyRef: { file: '/k' } } } }));
    expect(spec.vm.address).to.equal('2001:db8::10');
  });

  it('lists every problem of a bad spec in one error', function () {
    const problems = problemsOf({
      vm: { name: 'vm', address: '300.1.1.1', surprise: true },
      mesh: { namespace: 'Not_A_Label', workloadGroup: 'wg', labels: { 'bad key!': 'v', app: '-x' }, gateway: { ip: '198.51.100.1' } },
      package: { source: 'mirror', url: 'ftp://x/y.deb', sha256: 'short' },
    });
    const paths = problems.map((problem) => problem.path);
    expect(paths).to.include.members(['vm.address', 'vm', 'mesh.namespace', 'mesh.labels.bad key!', 'mesh.labels.app', 'package.url', 'package.sha256']);
    expect(problems.find((problem) => problem.path === 'vm')?.message).to.match(/surprise/);
  });

  it('rejects a namespace that is not a DNS label', function () {
    const input = validSpecInput();
    expect(problemsOf({ ...input, mesh: { ...input.mesh, namespace: 'a'.repeat(64) } }).map((p) => p.path)).to.include('mesh.namespace');
  });

  it('rejects label keys with an invalid prefix and values Kubernetes would reject', function () {
    const input = validSpecInput();
    const problems = problemsOf({ ...input, mesh: { ...input.mesh, labels: { 'Bad_Prefix/app': 'x', ok: 'x'.repeat(64) } } });
    expect(problems.map((p) => p.path)).to.have.members(['mesh.labels.Bad_Prefix/app', 'mesh.labels.ok']);
  });

  it('rejects conflicting options: both gateway forms, pushed package with cloud-init, ssh delivery without ssh', function () {
    const input = validSpecInput();
    expect(problemsOf({ ...input, mesh: { ...input.mesh, gateway: { ip: '198.51.100.1', hostname: 'gw.example.net' } } }).map((p) => p.path)).to.include('mesh.gateway');
    const pushed = { ...input, package: { source: 'push', file: 'istio-sidecar.deb', sha256: 'b'.repeat(64) }, delivery: { method: 'cloud-init' } };
    expect(problemsOf(pushed).map((p) => p.path)).to.include('package.source');
    expect(problemsOf({ ...input, vm: { name: 'v', address: '198.51.100.10' } }).map((p) => p.path)).to.include('vm.ssh');
  });

  it('refuses istio-ca certificates with cloud-init delivery: the CSR round trip needs ssh', function () {
    const input = validSpecInput();
    const spec = { ...input, mesh: { ...input.mesh, certificates: 'istio-ca' }, delivery: { method: 'cloud-init' } };
    expect(problemsOf(spec).map((p) => p.path)).to.include('mesh.certificates');
    expect(parseInjectionSpec({ ...input, mesh: { ...input.mesh, certificates: 'istio-ca' } }).mesh.certificates).to.equal('istio-ca');
    expect(parseInjectionSpec(input).mesh.certificates).to.equal('token');
  });

  it('accepts the gateway as a Service to read from the cluster, one form only', function () {
    const input = validSpecInput();
    expect(parseInjectionSpec({ ...input, mesh: { ...input.mesh, gateway: { service: 'istio-eastwestgateway.istio-system' } } }).mesh.gateway).to.deep.equal({ service: 'istio-eastwestgateway.istio-system' });
    expect(problemsOf({ ...input, mesh: { ...input.mesh, gateway: { ip: '198.51.100.1', service: 'gw.istio-system' } } })[0]?.message).to.match(/exactly one/);
    expect(problemsOf({ ...input, mesh: { ...input.mesh, gateway: { service: 'no-namespace' } } }).map((p) => p.path)).to.include('mesh.gateway.service');
  });

  it('requires a way to reach istiod', function () {
    const input = validSpecInput();
    const { gateway: _gateway, ...meshWithoutGateway } = input.mesh;
    expect(problemsOf({ ...input, mesh: meshWithoutGateway })[0]?.message).to.match(/cannot resolve istiod/);
    expect(() => parseInjectionSpec({ ...input, mesh: { ...meshWithoutGateway, discoveryAddress: 'istiod.example.net:15012' } })).not.to.throw();
  });

  it('accepts a probe with exactly one check', function () {
    const input = validSpecInput();
    const twoChecks = { httpGet: { port: 8080 }, tcpSocket: { port: 8080 } };
    expect(problemsOf({ ...input, mesh: { ...input.mesh, probe: twoChecks } })[0]?.message).to.match(/exactly one/);
  });

  it('answers non-objects with a problem, not a crash', function () {
    for (const input of [null, 42, 'spec', [], undefined]) expect(problemsOf(input)).to.have.length.greaterThan(0);
  });
});
