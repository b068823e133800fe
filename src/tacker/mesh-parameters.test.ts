import { expect } from 'chai';
import { AppError } from '../errors.js';
import { injectionSpecSchema } from '../injection-spec.js';
import { resolveMeshParameters, type MeshParameterSources, type MeshParameters } from './mesh-parameters.js';

const LEDGER = { namespace: 'payments', workloadGroup: 'ledger' };

function optedIn(sources: MeshParameterSources): { params: MeshParameters; source: string } {
  const resolution = resolveMeshParameters(sources);
  if (!resolution.optedIn) throw new Error(`expected opt-in: ${resolution.reason}`);
  return resolution;
}

function refusal(sources: MeshParameterSources): AppError {
  try {
    resolveMeshParameters(sources);
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected INVALID_REQUEST');
}

describe('meshSidecar parameters', () => {
  it('opts a VM in from the operation additionalParams', () => {
    const meshSidecar = {
      ...LEDGER,
      serviceAccount: 'ledger',
      labels: { app: 'ledger', version: 'v1' },
      ports: { http: 8080 },
      network: 'net-a',
      vdus: ['VDU1'],
      ssh: { user: 'ubuntu', port: 2222, privateKeySecret: 'vnf-ledger-ssh', hostKey: { policy: 'accept-new' } },
      dnsCapture: false,
      autoRegister: true,
      probe: { httpGet: { path: '/ready', port: 8080 } },
    };
    const { params, source } = optedIn({ additionalParams: { meshSidecar, 'lcm-operation-user-data': './UserData/userdata.py' }, vduId: 'VDU1' });
    expect(source).to.equal('additionalParams');
    expect(params).to.deep.equal(meshSidecar);
  });

  it('injects only the selected VDUs', () => {
    const resolution = resolveMeshParameters({ additionalParams: { meshSidecar: { ...LEDGER, vdus: ['VDU1'] } }, vduId: 'VDU2' });
    expect(resolution).to.deep.equal({ optedIn: false, reason: 'VDU VDU2 is not among the selected VDUs (VDU1).' });
  });

  it('opts in from Nova server metadata in the flat vmsi.mesh.* scheme', () => {
    const { params, source } = optedIn({
      serverMetadata: {
        'vmsi.mesh.enabled': 'true',
        'vmsi.mesh.namespace': 'payments',
        'vmsi.mesh.workloadGroup': 'ledger',
        'vmsi.mesh.labels': '{"app":"ledger"}',
        'vmsi.mesh.ports': '{"http":8080}',
        'vmsi.mesh.dnsCapture': 'False',
        'vmsi.mesh.ssh.user': 'cloud-user',
        'vmsi.mesh.ssh.port': '22',
        'vmsi.mesh.ssh.privateKeySecret': 'vnf-ledger-ssh',
        'vmsi.mesh.ssh.hostKey': '{"policy":"pinned","fingerprints":["SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"]}',
        'tacker.vdu': 'VDU1',
      },
      vduId: 'VDU1',
    });
    expect(source).to.equal('serverMetadata');
    expect(params).to.deep.equal({
      ...LEDGER,
      labels: { app: 'ledger' },
      ports: { http: 8080 },
      dnsCapture: false,
      ssh: { user: 'cloud-user', port: 22, privateKeySecret: 'vnf-ledger-ssh', hostKey: { policy: 'pinned', fingerprints: ['SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU'] } },
    });
  });

  it('opts in from the VNFD profile when nothing else speaks', () => {
    expect(optedIn({ profile: { ...LEDGER }, vduId: 'VDU1' }).source).to.equal('profile');
  });

  it('is not opted in without any source', () => {
    expect(resolveMeshParameters({ serverMetadata: { 'tacker.vdu': 'VDU1' }, vduId: 'VDU1' })).to.deep.include({ optedIn: false });
  });

  it('takes each field from the highest source that sets it', () => {
    const { params, source } = optedIn({
      additionalParams: { meshSidecar: { workloadGroup: 'ledger-canary', labels: { version: 'v2' } } },
      serverMetadata: { 'vmsi.mesh.serviceAccount': 'ledger-vm' },
      profile: { ...LEDGER, serviceAccount: 'ledger', labels: { app: 'ledger' }, ssh: { user: 'ubuntu', privateKeySecret: 'vnf-ledger-ssh' } },
      vduId: 'VDU1',
    });
    expect(source).to.equal('additionalParams');
    expect(params).to.deep.equal({
      namespace: 'payments',
      workloadGroup: 'ledger-canary',
      serviceAccount: 'ledger-vm',
      labels: { version: 'v2' },
      ssh: { user: 'ubuntu', privateKeySecret: 'vnf-ledger-ssh' },
    });
  });

  describe('opt-out', () => {
    it('lets the operation opt out over server metadata and profile', () => {
      const resolution = resolveMeshParameters({
        additionalParams: { meshSidecar: { enabled: false } },
        serverMetadata: { 'vmsi.mesh.enabled': 'true' },
        profile: LEDGER,
        vduId: 'VDU1',
      });
      expect(resolution).to.deep.equal({ optedIn: false, reason: 'Opted out by additionalParams (enabled: false).' });
    });

    it('lets server metadata opt out over the profile', () => {
      expect(resolveMeshParameters({ serverMetadata: { 'vmsi.mesh.enabled': 'false' }, profile: LEDGER, vduId: 'VDU1' })).to.deep.equal({
        optedIn: false,
        reason: 'Opted out by serverMetadata (enabled: false).',
      });
    });

    it('uses a profile with enabled: false for defaults only', () => {
      const profile = { ...LEDGER, enabled: false };
      expect(resolveMeshParameters({ profile, vduId: 'VDU1' })).to.deep.include({ optedIn: false });
      expect(optedIn({ serverMetadata: { 'vmsi.mesh.enabled': 'true' }, profile, vduId: 'VDU1' }).params).to.deep.equal(LEDGER);
    });
  });

  describe('secrets', () => {
    const secretCases: Array<[string, Record<string, unknown>, string]> = [
      ['an SSH private key field', { ...LEDGER, ssh: { user: 'ubuntu', privateKey: 'AAAA' } }, 'additionalParams.meshSidecar.ssh.privateKey'],
      ['a password', { ...LEDGER, ssh: { user: 'ubuntu', privateKeySecret: 'k', password: 'hunter2' } }, 'additionalParams.meshSidecar.ssh.password'],
      ['a token', { ...LEDGER, istioToken: 'eyJhbGciOi' }, 'additionalParams.meshSidecar.istioToken'],
      ['a PEM key in a label', { ...LEDGER, labels: { key: '-----BEGIN OPENSSH PRIVATE KEY-----\nabc' } }, 'additionalParams.meshSidecar.labels.key'],
      [
        'an Authorization probe header',
        { ...LEDGER, probe: { httpGet: { port: 8080, httpHeaders: [{ name: 'Authorization', value: 'Bearer abc' }] } } },
        'additionalParams.meshSidecar.probe.httpGet.httpHeaders.0.value',
      ],
    ];
    for (const [what, meshSidecar, path] of secretCases) {
      it(`refuses ${what}, saying why`, () => {
        const error = refusal({ additionalParams: { meshSidecar }, vduId: 'VDU1' });
        expect(error.code).to.equal('INVALID_REQUEST');
        expect(error.problems.map((problem) => problem.path)).to.deep.equal([path]);
        expect(error.problems[0]?.message).to.match(/secret values are never accepted in Tacker parameters/);
      });
    }

    it('refuses a secret-looking server metadata key', () => {
      const error = refusal({ serverMetadata: { 'vmsi.mesh.ssh.privateKey': 'AAAA' }, vduId: 'VDU1' });
      expect(error.problems).to.have.length(1);
      expect(error.problems[0]).to.deep.include({ path: 'serverMetadata.vmsi.mesh.ssh.privateKey' });
      expect(error.problems[0]?.message).to.match(/looks like a secret/);
    });

    it('accepts labels whose names merely contain a secret-like word', () => {
      expect(optedIn({ additionalParams: { meshSidecar: { ...LEDGER, labels: { 'token-bucket': 'on' } } }, vduId: 'VDU1' }).params.labels).to.deep.equal({ 'token-bucket': 'on' });
    });
  });

  it('lists every problem of every source with its path', () => {
    const error = refusal({
      additionalParams: { meshSidecar: { namespace: 'Payments!', workloadGroup: 'ledger', colour: 'blue' } },
      serverMetadata: { 'vmsi.mesh.dnsCapture': 'yes', 'vmsi.mesh.labels': '{app: ledger}', 'vmsi.mesh.nameSpace': 'x' },
      profile: { ...LEDGER, ports: { http: 70000 } },
      vduId: 'VDU1',
    });
    expect(error.problems.map((problem) => problem.path)).to.include.members([
      'additionalParams.meshSidecar.namespace',
      'additionalParams.meshSidecar',
      'serverMetadata.vmsi.mesh.dnsCapture',
      'serverMetadata.vmsi.mesh.labels',
      'serverMetadata.vmsi.mesh.nameSpace',
      'profile.ports.http',
    ]);
  });

  it('says which sources it looked in when a mandatory field is missing from all', () => {
    const error = refusal({ additionalParams: { meshSidecar: { namespace: 'payments' } }, profile: { serviceAccount: 'ledger' }, vduId: 'VDU1' });
    expect(error.problems).to.have.length(1);
    expect(error.problems[0]?.path).to.equal('meshSidecar.workloadGroup');
    expect(error.problems[0]?.message).to.match(/looked in additionalParams, profile/);
  });

  it('produces values the injection spec accepts', () => {
    const { params } = optedIn({ additionalParams: { meshSidecar: { ...LEDGER, labels: { app: 'ledger' }, ports: { http: 8080 }, probe: { tcpSocket: { port: 8080 } } } }, vduId: 'VDU1' });
    const { ssh: _ssh, vdus: _vdus, ...mesh } = params;
    const spec = injectionSpecSchema.safeParse({
      vm: { name: 'ledger-0', address: '198.51.100.7', ssh: { user: 'ubuntu', privateKeyRef: { secret: 'vnf-ledger-ssh' } } },
      mesh: { ...mesh, gateway: { ip: '198.51.100.1' } },
      package: { source: 'mirror', url: 'https://mirror.example/istio-sidecar.deb', sha256: 'a'.repeat(64) },
    });
    expect(spec.success, JSON.stringify(spec.error?.issues)).to.equal(true);
  });
});
