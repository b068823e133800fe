import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { MANAGED_BY, MANAGED_BY_LABEL } from '../mesh/workload-objects.js';
import { assertMatchesGoldenDir } from '../../test/support/golden.js';
import { validateIstioObject } from '../../test/support/istio-crd-validator.js';
import { desiredObjects, SERVICE_LABEL } from './desired-objects.js';
import type { KubeObject } from './kube-object.js';
import { parseServiceDescriptor, type ServiceDescriptor } from './service-descriptor.js';
import { createVnfRequest, instantiateVnfRequest } from '../tacker/tacker-vnf-lifecycle.js';

const TESTDATA = fileURLToPath(new URL('./testdata/', import.meta.url));

function scenarioDescriptor(scenario: string): ServiceDescriptor {
  return parseServiceDescriptor(readFileSync(path.join(TESTDATA, scenario, 'descriptor.yaml'), 'utf8'));
}

function yamlDocuments(values: unknown[]): Buffer {
  return Buffer.from(values.map((value) => stringify(value, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n'));
}

/** What a scenario produces: the objects, and the Tacker requests for its VM microservices. */
function scenarioOutputs(descriptor: ServiceDescriptor): Map<string, Buffer> {
  const outputs = new Map([['objects.yaml', yamlDocuments(desiredObjects(descriptor))]]);
  const requests = descriptor.spec.microservices.flatMap((microservice) =>
    microservice.kind === 'vm' ? [{ microservice: microservice.name, create: createVnfRequest(descriptor, microservice), instantiate: instantiateVnfRequest(descriptor, microservice) }] : [],
  );
  if (requests.length > 0) outputs.set('tacker-requests.yaml', yamlDocuments(requests));
  return outputs;
}

function find(objects: KubeObject[], kind: string, name: string): KubeObject {
  const object = objects.find((candidate) => candidate.kind === kind && candidate.metadata.name === name);
  if (object === undefined) throw new Error(`no ${kind} ${name}`);
  return object;
}

const scenarios = readdirSync(TESTDATA, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && !entry.name.startsWith('_'))
  .map((entry) => entry.name);

describe('desired objects (orchestrator/testdata)', function () {
  it('has the scenarios the orchestrator promises', function () {
    expect(scenarios).to.include.members(['mixed', 'revisioned', 'tcp-only']);
  });

  for (const scenario of scenarios) {
    describe(scenario, function () {
      it('produces the golden objects and Tacker requests byte for byte', function () {
        assertMatchesGoldenDir(scenarioOutputs(scenarioDescriptor(scenario)), path.join(TESTDATA, scenario, 'expected'));
      });

      it('produces Istio objects that their CRDs accept', function () {
        const istio = desiredObjects(scenarioDescriptor(scenario)).filter((object) => object.apiVersion.includes('istio.io/'));
        expect(istio).to.not.be.empty;
        const problems = istio.flatMap((object) => validateIstioObject(object).map((problem) => `${object.kind}/${object.metadata.name}: ${problem}`));
        expect(problems).to.deep.equal([]);
      });

      it('labels every object as managed and as part of the descriptor', function () {
        const descriptor = scenarioDescriptor(scenario);
        for (const object of desiredObjects(descriptor)) {
          expect(object.metadata.labels, `${object.kind}/${object.metadata.name}`).to.include({ [MANAGED_BY_LABEL]: MANAGED_BY, [SERVICE_LABEL]: descriptor.metadata.name });
        }
      });
    });
  }

  it('is deterministic whatever the order of microservices and connections', function () {
    const descriptor = scenarioDescriptor('mixed');
    const shuffled: ServiceDescriptor = {
      ...descriptor,
      spec: { ...descriptor.spec, microservices: [...descriptor.spec.microservices].reverse(), connections: [...descriptor.spec.connections].reverse() },
    };
    expect(JSON.stringify(desiredObjects(shuffled))).to.equal(JSON.stringify(desiredObjects(descriptor)));
  });

  it('labels the namespace for injection, by revision when one is set', function () {
    expect(find(desiredObjects(scenarioDescriptor('mixed')), 'Namespace', 'shop').metadata.labels).to.include({ 'istio-injection': 'enabled' }).and.not.have.property('istio.io/rev');
    const revisioned = find(desiredObjects(scenarioDescriptor('revisioned')), 'Namespace', 'billing-prod').metadata.labels;
    expect(revisioned).to.include({ 'istio.io/rev': 'canary' }).and.not.have.property('istio-injection');
  });

  it('gives pods and VMs of one service the same identity and labels', function () {
    const objects = desiredObjects(scenarioDescriptor('mixed'));
    const group = find(objects, 'WorkloadGroup', 'catalog-vm') as KubeObject & { spec: { metadata: { labels: object }; template: { serviceAccount: string; ports: object } } };
    const deployment = find(objects, 'Deployment', 'catalog-v2') as KubeObject & { spec: { template: { metadata: { labels: object }; spec: { serviceAccountName: string } } } };
    expect(group.spec.template.serviceAccount).to.equal('catalog');
    expect(deployment.spec.template.spec.serviceAccountName).to.equal('catalog');
    expect(group.spec.metadata.labels).to.deep.equal({ app: 'catalog', version: 'v1' });
    expect(deployment.spec.template.metadata.labels).to.deep.equal({ app: 'catalog', version: 'v2' });
    expect(group.spec.template.ports).to.deep.equal({ http: 8080 });
    expect(find(objects, 'Service', 'catalog').spec).to.deep.include({ selector: { app: 'catalog' } });
  });

  it('allows each port only the callers of its connections, by SPIFFE principal in the configured trust domain', function () {
    const policy = find(desiredObjects(scenarioDescriptor('mixed'), { trustDomain: 'example.org' }), 'AuthorizationPolicy', 'orders');
    expect(policy.spec).to.deep.equal({
      selector: { matchLabels: { app: 'orders' } },
      action: 'ALLOW',
      rules: [
        { from: [{ source: { principals: ['example.org/ns/shop/sa/catalog', 'example.org/ns/shop/sa/frontend'] } }], to: [{ operation: { ports: ['9090'] } }] },
        { from: [{ source: { principals: ['example.org/ns/reporting/sa/report-builder', 'example.org/ns/shop/sa/frontend'] } }], to: [{ operation: { ports: ['9102'] } }] },
      ],
    });
  });

  it('builds no traffic objects for a service nobody calls', function () {
    const kinds = desiredObjects(scenarioDescriptor('mixed'))
      .filter((object) => object.metadata.name === 'frontend')
      .map((object) => object.kind);
    expect(kinds).to.deep.equal(['ServiceAccount', 'Service', 'Deployment']);
  });
});
