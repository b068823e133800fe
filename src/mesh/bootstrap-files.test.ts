import { expect } from 'chai';
import { parseInjectionSpec } from '../injection-spec.js';
import { buildBootstrapFiles, renderEnvFile } from './bootstrap-files.js';
import { compareGoYamlKeys, stringifyLikeGoYaml } from './go-yaml.js';
import { shellQuoteLikeIstioctl } from './shell-quote.js';
import { validSpecInput } from '../../test/support/spec-fixtures.js';
import { TEST_ROOT_CERT, makeTestToken } from '../../test/support/test-credentials.js';

const spec = parseInjectionSpec(validSpecInput());
const base = { rootCertificate: TEST_ROOT_CERT, token: makeTestToken('vm-ns', 'vm-sa'), gatewayIp: '198.51.100.1' };

describe('bootstrap files', function () {
  it('always sets ISTIO_SVC_IP from the spec address', function () {
    const files = buildBootstrapFiles({ ...base, spec, controlPlane: { meshConfig: {} } });
    expect(files.clusterEnv).to.match(/^ISTIO_SVC_IP=198\.51\.100\.10$/m);
  });

  it("refuses a cluster ID that differs from istiod's", function () {
    const mismatched = parseInjectionSpec({ ...validSpecInput(), mesh: { ...validSpecInput().mesh, clusterId: 'cluster2' } });
    expect(() => buildBootstrapFiles({ ...base, spec: mismatched, controlPlane: { meshConfig: {}, clusterId: 'cluster1' } }))
      .to.throw()
      .with.property('code', 'MESH_INCONSISTENT');
  });

  it('takes the cluster ID from the control plane when the spec has none', function () {
    const files = buildBootstrapFiles({ ...base, spec, controlPlane: { meshConfig: {}, clusterId: 'east' } });
    expect(files.identity.clusterId).to.equal('east');
    expect(files.meshYaml).to.include('ISTIO_META_CLUSTER_ID: east');
  });

  it('never writes an empty hosts line: a gateway that was not resolved is an error', function () {
    const { gatewayIp: _omitted, ...withoutGateway } = base;
    expect(() => buildBootstrapFiles({ ...withoutGateway, spec, controlPlane: { meshConfig: {} } }))
      .to.throw()
      .with.property('code', 'GATEWAY_UNRESOLVED');
  });

  it('writes no hosts file when the VM resolves a custom discovery address itself', function () {
    const { gateway: _gateway, ...mesh } = validSpecInput().mesh;
    const own = parseInjectionSpec({ ...validSpecInput(), mesh: { ...mesh, discoveryAddress: 'istiod.mesh.example.net:15012' } });
    const { gatewayIp: _omitted, ...withoutGateway } = base;
    const files = buildBootstrapFiles({ ...withoutGateway, spec: own, controlPlane: { meshConfig: {} } });
    expect(files.hosts).to.equal(undefined);
    expect(files.meshYaml).to.include('discoveryAddress: istiod.mesh.example.net:15012');
  });

  it('derives the SPIFFE identity from trust domain, namespace and service account', function () {
    const files = buildBootstrapFiles({ ...base, spec, controlPlane: { meshConfig: { trustDomain: 'example.org' } } });
    expect(files.identity.spiffeId).to.equal('spiffe://example.org/ns/vm-ns/sa/vm-sa');
    expect(files.clusterEnv).to.include('TRUST_DOMAIN=example.org\n');
  });

  it('excludes the status port the mesh config sets, like istioctl', function () {
    const withStatusPort = (statusPort: number): string =>
      buildBootstrapFiles({ ...base, spec, controlPlane: { meshConfig: { defaultConfig: { statusPort } } } }).clusterEnv;
    expect(withStatusPort(15030)).to.include('ISTIO_LOCAL_EXCLUDE_PORTS=22,15090,15021,15030\n');
    expect(withStatusPort(15021)).to.include('ISTIO_LOCAL_EXCLUDE_PORTS=22,15090,15021\n');
  });
});

describe('istioctl-compatible encodings', function () {
  it('quotes cluster.env values as shellescape.Quote does', function () {
    expect(shellQuoteLikeIstioctl('')).to.equal("''");
    expect(shellQuoteLikeIstioctl('22,15090,15021')).to.equal('22,15090,15021');
    expect(shellQuoteLikeIstioctl('*')).to.equal("'*'");
    expect(shellQuoteLikeIstioctl("it's $HOME")).to.equal(`'it'"'"'s $HOME'`);
    expect(shellQuoteLikeIstioctl('2001:db8::10')).to.equal('2001:db8::10');
  });

  it('sorts cluster.env lines by bytes, as Go sort.Strings does', function () {
    expect(renderEnvFile({ b: '1', A_B: '2', A: '3', a: '4' })).to.equal('A=3\nA_B=2\na=4\nb=1\n');
  });

  it("orders YAML keys like go-yaml v2: non-letters before letters, digit runs as numbers", function () {
    const keys = ['ISTIO_METAJSON_LABELS', 'ISTIO_META_CLUSTER_ID', 'a10', 'a2', 'B', 'a'];
    expect([...keys].sort(compareGoYamlKeys)).to.deep.equal(['B', 'ISTIO_META_CLUSTER_ID', 'ISTIO_METAJSON_LABELS', 'a', 'a2', 'a10']);
  });

  it('quotes YAML strings like go-yaml v2: double for other types, single for syntax', function () {
    const yaml = stringifyLikeGoYaml({ k: { t: 'true', e: '', n: '15012', j: '{"a":"b"}', s: '*', p: 'plain', y: 'y' } });
    expect(yaml).to.equal(`k:\n  e: ""\n  j: '{"a":"b"}'\n  "n": "15012"\n  p: plain\n  s: '*'\n  t: "true"\n  "y": "y"\n`);
  });
});

describe('bootstrap files for health-checked VMs', function () {
  it('names the WorkloadEntry when the product registers a VM that has a probe', function () {
    const input = validSpecInput();
    const probed = parseInjectionSpec({ ...input, mesh: { ...input.mesh, probe: { httpGet: { port: 8080, path: '/ready' } } } });
    const files = buildBootstrapFiles({ ...base, spec: probed, controlPlane: { meshConfig: {} } });
    expect(files.clusterEnv).to.include('ISTIO_META_WORKLOAD_ENTRY=vm-app-198.51.100.10\n');
    const autoRegistered = parseInjectionSpec({ ...input, mesh: { ...input.mesh, autoRegister: true, probe: { tcpSocket: { port: 8080 } } } });
    expect(buildBootstrapFiles({ ...base, spec: autoRegistered, controlPlane: { meshConfig: {} } }).clusterEnv).not.to.include('ISTIO_META_WORKLOAD_ENTRY');
  });
});

describe('gateway from a Service', function () {
  it('is refused with a clear problem when the credentials cannot read Services', async function () {
    const { renderInjection } = await import('../render/render-injection.js');
    const { InMemoryMeshCredentials, StaticResolver } = await import('../../test/support/test-credentials.js');
    const credentials = new InMemoryMeshCredentials();
    const input = validSpecInput();
    const withService = parseInjectionSpec({ ...input, mesh: { ...input.mesh, gateway: { service: 'istio-eastwestgateway.istio-system' } } });
    const deps = { credentials, controlPlane: credentials, resolver: new StaticResolver({}), installScript: Buffer.alloc(0), artifactsDir: '/nonexistent', tokenLifetimeSeconds: 3600, now: Date.now };
    let refusal: unknown;
    await renderInjection(withService, deps).catch((error: unknown) => (refusal = error));
    expect(refusal).to.have.property('code', 'INVALID_SPEC');
    expect((refusal as { problems: Array<{ path: string }> }).problems[0]?.path).to.equal('mesh.gateway.service');
  });
});
