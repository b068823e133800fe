import { expect } from 'chai';
import { parseInjectionSpec, type InjectionSpecInput } from '../injection-spec.js';
import { buildBootstrapFiles } from './bootstrap-files.js';
import {
  HEALTH_CHECKS_ANNOTATION,
  buildWorkloadEntry,
  buildWorkloadGroup,
  workloadEntryName,
  workloadLabels,
  type WorkloadEntry,
  type WorkloadGroup,
} from './workload-objects.js';
import { assertValidIstioObject } from '../../test/support/istio-crd-validator.js';
import { validSpecInput } from '../../test/support/spec-fixtures.js';
import { TEST_ROOT_CERT, makeTestToken } from '../../test/support/test-credentials.js';

function specWith(mesh: Partial<InjectionSpecInput['mesh']>, vm: Partial<InjectionSpecInput['vm']> = {}): ReturnType<typeof parseInjectionSpec> {
  const base = validSpecInput();
  return parseInjectionSpec({ ...base, vm: { ...base.vm, ...vm }, mesh: { ...base.mesh, ...mesh } });
}

const SERVER_ID = '6f1c3a52-8d0e-4b8f-9a34-2f7d2b1c9e10';
const VNF_INSTANCE_ID = 'c1b2d3e4-0000-4000-8000-00000000abcd';

const scenarios: Record<string, ReturnType<typeof parseInjectionSpec>> = {
  minimal: specWith({}),
  ipv6: specWith({}, { address: '2001:DB8:0:0::10' }),
  network: specWith({ network: 'network-east' }),
  ports: specWith({ ports: { http: 8080, grpc: 9090, 'http-admin': 8081 } }),
  'http probe': specWith({ probe: { httpGet: { path: '/ready', port: 8080, httpHeaders: [{ name: 'X-Probe', value: 'vmsi' }] }, periodSeconds: 5, initialDelaySeconds: 0 } }),
  'exec probe': specWith({ probe: { exec: { command: ['/usr/bin/check', '--quick'] }, failureThreshold: 3 } }),
  labels: specWith({ labels: { app: 'checkout', version: 'v2', 'topology.example.com/rack': 'r1', 'service.istio.io/canonical-name': 'shop' } }),
  everything: specWith(
    {
      network: 'net1',
      locality: 'region1/zone1/rack3',
      ports: { tcp: 5000 },
      serviceAccount: 'vnf.payments',
      probe: { tcpSocket: { port: 5000 } },
    },
    { address: 'fd00:10::2a', serverId: SERVER_ID },
  ),
};

describe('Istio workload objects', function () {
  describe('every generated object passes the Istio CRD', function () {
    for (const [name, spec] of Object.entries(scenarios)) {
      it(`WorkloadGroup and WorkloadEntry for the ${name} spec`, function () {
        assertValidIstioObject(buildWorkloadGroup(spec));
        assertValidIstioObject(buildWorkloadEntry(spec, { vnfInstanceId: VNF_INSTANCE_ID }));
      });
    }
  });

  it('builds a WorkloadGroup like istioctl x workload group create, plus the probe', function () {
    const group: WorkloadGroup = buildWorkloadGroup(specWith({ ports: { http: 8080 }, network: 'net1', probe: { httpGet: { port: 8080, path: '/ready' } } }));
    expect(group).to.deep.equal({
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadGroup',
      metadata: { name: 'vm-app', namespace: 'vm-ns', labels: { app: 'vm-app', 'app.kubernetes.io/managed-by': 'vm-sidecar-injector' } },
      spec: {
        metadata: { labels: { app: 'vm-app' } },
        probe: { httpGet: { path: '/ready', port: 8080 } },
        template: { network: 'net1', ports: { http: 8080 }, serviceAccount: 'vm-sa' },
      },
    });
  });

  it('leaves the probe and empty template fields out when the spec has none', function () {
    const group = buildWorkloadGroup(scenarios.minimal!);
    expect(group.spec).to.deep.equal({ metadata: { labels: { app: 'vm-app' } }, template: { serviceAccount: 'vm-sa' } });
  });

  it('builds a WorkloadEntry with the labels, address and template an auto-registered entry would get', function () {
    const entry: WorkloadEntry = buildWorkloadEntry(scenarios.everything!, { vnfInstanceId: VNF_INSTANCE_ID });
    expect(entry).to.deep.equal({
      apiVersion: 'networking.istio.io/v1',
      kind: 'WorkloadEntry',
      metadata: {
        name: 'vm-app-fd00-10--2a-net1',
        namespace: 'vm-ns',
        annotations: { [HEALTH_CHECKS_ANNOTATION]: 'true' },
        labels: {
          app: 'vm-app',
          'app.kubernetes.io/managed-by': 'vm-sidecar-injector',
          'service.istio.io/canonical-name': 'vm-app',
          'service.istio.io/canonical-revision': 'latest',
          'vmsi.dev/server-id': SERVER_ID,
          'vmsi.dev/vnf-instance-id': VNF_INSTANCE_ID,
        },
      },
      spec: {
        address: 'fd00:10::2a',
        labels: { app: 'vm-app', 'service.istio.io/canonical-name': 'vm-app', 'service.istio.io/canonical-revision': 'latest' },
        locality: 'region1/zone1/rack3',
        network: 'net1',
        ports: { tcp: 5000 },
        serviceAccount: 'vnf.payments',
      },
    });
  });

  it('lets a server ID passed by the caller win over the spec', function () {
    const other = 'a0a0a0a0-1111-4222-8333-444455556666';
    expect(buildWorkloadEntry(scenarios.everything!, { serverId: other }).metadata.labels).to.include({ 'vmsi.dev/server-id': other });
    expect(buildWorkloadEntry(scenarios.minimal!).metadata.labels).to.not.have.property('vmsi.dev/server-id');
  });

  it('gives the entry the same labels the VM announces in ISTIO_METAJSON_LABELS', function () {
    const spec = scenarios.labels!;
    const files = buildBootstrapFiles({ spec, controlPlane: { meshConfig: {} }, rootCertificate: TEST_ROOT_CERT, token: makeTestToken('vm-ns', 'vm-sa'), gatewayIp: '198.51.100.1' });
    const announced = /ISTIO_METAJSON_LABELS: '(.*)'$/m.exec(files.meshYaml)?.[1];
    expect(announced, 'mesh.yaml carries ISTIO_METAJSON_LABELS').to.be.a('string');
    expect(workloadLabels(spec)).to.deep.equal(JSON.parse(announced!));
    expect(workloadLabels(spec)).to.include({ 'service.istio.io/canonical-name': 'shop', 'service.istio.io/canonical-revision': 'v2' });
  });

  it('names entries as istiod names auto-registered ones: group, address with ":" as "-", network', function () {
    expect(workloadEntryName(scenarios.minimal!)).to.equal('vm-app-198.51.100.10');
    expect(workloadEntryName(scenarios.ipv6!)).to.equal('vm-app-2001-db8--10');
    expect(workloadEntryName(scenarios.network!)).to.equal('vm-app-198.51.100.10-network-east');
    expect(buildWorkloadEntry(scenarios.network!).metadata.name).to.equal(workloadEntryName(scenarios.network!));
  });

  it('refuses a network that would make the entry name invalid, naming the field', function () {
    expect(() => workloadEntryName(specWith({ network: 'Network_1' })))
      .to.throw()
      .that.satisfies((error: { code: string; problems: { path: string }[] }) => error.code === 'INVALID_SPEC' && error.problems[0]?.path === 'mesh.network');
  });

  it('refuses a VNF instance ID that cannot be a label value', function () {
    expect(() => buildWorkloadEntry(scenarios.minimal!, { vnfInstanceId: 'not a label/value' }))
      .to.throw()
      .with.property('code', 'INVALID_SPEC');
  });

  it('is deterministic: the same spec gives the same JSON, keys in byte order', function () {
    const spec = specWith({ labels: { zeta: 'z', alpha: 'a', Mid: 'm' }, ports: { web: 80, admin: 81 } });
    const first = JSON.stringify(buildWorkloadEntry(spec));
    expect(JSON.stringify(buildWorkloadEntry(spec))).to.equal(first);
    expect(Object.keys(buildWorkloadEntry(spec).spec.labels)).to.deep.equal(['Mid', 'alpha', 'service.istio.io/canonical-name', 'service.istio.io/canonical-revision', 'zeta']);
    expect(Object.keys(buildWorkloadEntry(spec).spec)).to.deep.equal(['address', 'labels', 'ports', 'serviceAccount']);
    expect(Object.keys(buildWorkloadEntry(spec).spec.ports ?? {})).to.deep.equal(['admin', 'web']);
  });
});
