import { expect } from 'chai';
import { assertValidIstioObject, validateIstioObject } from './istio-crd-validator.js';

function entry(spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: 'vm-app-198.51.100.10', namespace: 'vm-ns' }): unknown {
  return { apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata, spec };
}

function group(spec: Record<string, unknown>): unknown {
  return { apiVersion: 'networking.istio.io/v1', kind: 'WorkloadGroup', metadata: { name: 'vm-app', namespace: 'vm-ns' }, spec };
}

describe('Istio CRD validator (test support)', function () {
  it('accepts a WorkloadEntry written like the Istio documentation example', function () {
    assertValidIstioObject(entry({ address: '2.2.2.2', labels: { app: 'foo' }, serviceAccount: 'foo', ports: { http: 8080 }, network: 'vm-net' }));
  });

  it('rejects an address that is not a string', function () {
    expect(validateIstioObject(entry({ address: 5 }))).to.include('/spec/address must be string');
  });

  it('rejects an unknown field where the schema does not preserve unknown fields', function () {
    expect(validateIstioObject(entry({ address: '10.0.0.1', adress: '10.0.0.2' }))).to.include('/spec must NOT have additional properties (adress)');
    expect(validateIstioObject({ ...(entry({ address: '10.0.0.1' }) as object), extra: true })).to.include('/ must NOT have additional properties (extra)');
  });

  it('rejects a probe with two checks, as the CRD oneOf does', function () {
    const problems = validateIstioObject(group({ template: {}, probe: { httpGet: { port: 80 }, tcpSocket: { port: 80 } } }));
    expect(problems).to.include('/spec/probe must match exactly one schema in oneOf');
    assertValidIstioObject(group({ template: {}, probe: { periodSeconds: 5 } }));
  });

  it('checks the CEL rules of the WorkloadEntry schema', function () {
    expect(validateIstioObject(entry({ address: '10.0.0.1', ports: { http: 0 } }))).to.include('/spec/ports/http port must be between 1-65535');
    expect(validateIstioObject(entry({ address: '10.0.0.1', ports: { 'bad name': 80 } }))).to.include('/spec/ports port name must be valid');
    expect(validateIstioObject(entry({ labels: { app: 'a' } }))).to.include('/spec Address is required');
    expect(validateIstioObject(entry({ address: 'unix://relative' }))).to.include('/spec/address UDS must be an absolute path or abstract socket');
  });

  it('checks int32 formats and minimums', function () {
    const problems = validateIstioObject(group({ template: {}, probe: { periodSeconds: 2 ** 31, timeoutSeconds: -1 } }));
    expect(problems).to.include('/spec/probe/periodSeconds must match format "int32"');
    expect(problems).to.include('/spec/probe/timeoutSeconds must be >= 0');
  });

  it('checks object metadata: name, namespace, label syntax', function () {
    expect(validateIstioObject(entry({ address: '10.0.0.1' }, { namespace: 'vm-ns' }))).to.include("/metadata must have required property 'name'");
    expect(validateIstioObject(entry({ address: '10.0.0.1' }, { name: 'Upper_Case' }))[0]).to.match(/^\/metadata\/name must match pattern/);
    expect(validateIstioObject(entry({ address: '10.0.0.1' }, { name: 'a', labels: { 'bad key!': 'x' } }))[0]).to.match(/^\/metadata\/labels label key "bad key!"/);
  });

  it('rejects a version the CRD does not serve and a kind it does not know', function () {
    expect(validateIstioObject({ apiVersion: 'networking.istio.io/v2', kind: 'WorkloadEntry', metadata: { name: 'a' }, spec: {} })[0]).to.match(/does not serve/);
    expect(validateIstioObject({ apiVersion: 'networking.istio.io/v1', kind: 'Nonsense', metadata: { name: 'a' }, spec: {} })[0]).to.match(/no CRD/);
  });

  it('makes the chai assertion fail with the problems listed', function () {
    expect(() => assertValidIstioObject(entry({ address: 5 }))).to.throw(/not valid for its Istio CRD/);
  });
});
