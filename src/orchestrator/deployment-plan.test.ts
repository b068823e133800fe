import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { assertMatchesGoldenDir } from '../../test/support/golden.js';
import { desiredObjects } from './desired-objects.js';
import { APPLIED_HASH_ANNOTATION, appliedHash, formatPlan, planChanges, unifiedDiff } from './deployment-plan.js';
import { objectKey, type KubeObject } from './kube-object.js';
import { parseServiceDescriptor, type ServiceDescriptorInput } from './service-descriptor.js';

const TESTDATA = fileURLToPath(new URL('./testdata/', import.meta.url));

function mixedInput(): ServiceDescriptorInput {
  return parseYaml(readFileSync(path.join(TESTDATA, 'mixed', 'descriptor.yaml'), 'utf8')) as ServiceDescriptorInput;
}

/** The mixed scenario with the frontend → catalog canary at the given weights. */
function objectsWithSplit(v1: number, v2: number): KubeObject[] {
  const input = mixedInput();
  const canary = input.spec.connections?.[0];
  if (canary === undefined) throw new Error('the mixed scenario lost its canary connection');
  canary.split = { v1, v2 };
  return desiredObjects(parseServiceDescriptor(input));
}

/** What a cluster returns after server-side apply: server fields and defaults added, nothing of ours removed. */
function asStoredByServer(object: KubeObject, index: number): KubeObject {
  const stored = structuredClone(object) as KubeObject & { spec?: Record<string, unknown> };
  Object.assign(stored.metadata, {
    uid: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
    resourceVersion: String(1000 + index),
    generation: 1,
    creationTimestamp: '2026-11-01T00:00:00Z',
    managedFields: [{ manager: 'vm-sidecar-injector', operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: {} }],
  });
  if (object.kind === 'Service') {
    stored.spec = { ...stored.spec, clusterIP: '10.96.0.17', type: 'ClusterIP', sessionAffinity: 'None' };
    (stored.spec.ports as Record<string, unknown>[]).forEach((port) => Object.assign(port, { protocol: 'TCP', targetPort: port.port }));
  }
  if (object.kind === 'Deployment') stored.spec = { ...stored.spec, strategy: { type: 'RollingUpdate' }, revisionHistoryLimit: 10 };
  stored.status = { observedGeneration: 1 };
  return stored;
}

/** The cluster after applying a plan made against an empty cluster. */
function deployed(objects: KubeObject[]): KubeObject[] {
  return planChanges(objects, []).create.map(asStoredByServer);
}

describe('deployment plan', function () {
  it('creates everything in apply order on an empty cluster, each stamped with its applied hash', function () {
    const desired = objectsWithSplit(90, 10);
    const plan = planChanges(desired, []);
    expect(plan.create.map((object) => objectKey(object))).to.deep.equal(desired.map((object) => objectKey(object)));
    expect(plan.update).to.deep.equal([]);
    expect(plan.delete).to.deep.equal([]);
    for (const object of plan.create) expect(object.metadata.annotations?.[APPLIED_HASH_ANNOTATION]).to.equal(appliedHash(object));
  });

  it('finds nothing to do when the cluster holds what was applied, whatever the server added', function () {
    const desired = objectsWithSplit(90, 10);
    const plan = planChanges(desired, deployed(desired));
    expect(plan.unchanged).to.have.length(desired.length);
    expect(plan.create.length + plan.update.length + plan.delete.length).to.equal(0);
    expect(formatPlan(plan)).to.equal(`No changes (0 to create, 0 to update, 0 to delete, ${desired.length} unchanged).\n`);
  });

  it('shifts a canary 90/10 → 50/50 by changing exactly one object, the VirtualService, and shows the weights', function () {
    const plan = planChanges(objectsWithSplit(50, 50), deployed(objectsWithSplit(90, 10)));
    expect(plan.create).to.deep.equal([]);
    expect(plan.delete).to.deep.equal([]);
    expect(plan.update.map((update) => objectKey(update.desired))).to.deep.equal(['VirtualService/shop/catalog']);
    const diff = plan.update[0]?.diff ?? '';
    expect(diff).to.include('-          weight: 90\n').and.include('+          weight: 50\n').and.include('-          weight: 10\n');
    expect(diff).to.not.include('resourceVersion').and.not.include(APPLIED_HASH_ANNOTATION);
  });

  it('prints the canary shift for --dry-run (golden)', function () {
    const plan = planChanges(objectsWithSplit(50, 50), deployed(objectsWithSplit(90, 10)));
    assertMatchesGoldenDir(new Map([['plan.txt', Buffer.from(formatPlan(plan))]]), path.join(TESTDATA, '_plans', 'canary-90-10-to-50-50'));
  });

  it('updates an object when a field was removed from the descriptor, though every remaining field matches', function () {
    const live = deployed(objectsWithSplit(90, 10));
    const input = mixedInput();
    delete input.spec.connections?.[0]?.timeout;
    const plan = planChanges(desiredObjects(parseServiceDescriptor(input)), live);
    expect(plan.update.map((update) => objectKey(update.desired))).to.deep.equal(['VirtualService/shop/catalog']);
    expect(plan.update[0]?.diff).to.match(/^# Only fields removed/);
  });

  it('puts back a field someone edited by hand, although the applied hash still matches', function () {
    const desired = objectsWithSplit(90, 10);
    const live = deployed(desired);
    const service = live.find((object) => objectKey(object) === 'Service/shop/orders') as KubeObject & { spec: { selector: Record<string, string> } };
    service.spec.selector = { app: 'something-else' };
    const plan = planChanges(desired, live);
    expect(plan.update.map((update) => objectKey(update.desired))).to.deep.equal(['Service/shop/orders']);
    expect(plan.update[0]?.diff).to.include('-    app: something-else\n+    app: orders\n');
  });

  it('re-applies an object that carries no applied hash (applied by hand or an older version)', function () {
    const desired = objectsWithSplit(90, 10);
    const live = deployed(desired);
    delete live[0]?.metadata.annotations?.[APPLIED_HASH_ANNOTATION];
    expect(planChanges(desired, live).update.map((update) => objectKey(update.desired))).to.deep.equal([objectKey(desired[0]!)]);
  });

  it('deletes only objects of this descriptor that are no longer desired, traffic rules before workloads', function () {
    const live = deployed(objectsWithSplit(90, 10));
    const input = mixedInput();
    input.spec.microservices = input.spec.microservices?.filter((microservice) => microservice.name !== 'catalog-vm');
    input.spec.connections = [];
    const foreign: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'not-ours', namespace: 'shop' } };
    const otherDescriptor: KubeObject = {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'x', namespace: 'shop', labels: { 'app.kubernetes.io/managed-by': 'vm-sidecar-injector', 'vmsi.dev/service': 'other' } },
    };
    const plan = planChanges(desiredObjects(parseServiceDescriptor(input)), [...live, foreign, otherDescriptor]);
    expect(plan.delete.map((object) => objectKey(object))).to.deep.equal([
      'AuthorizationPolicy/shop/catalog',
      'AuthorizationPolicy/shop/orders',
      'PeerAuthentication/shop/catalog',
      'PeerAuthentication/shop/orders',
      'VirtualService/shop/catalog',
      'VirtualService/shop/orders',
      'DestinationRule/shop/catalog',
      'DestinationRule/shop/orders',
      'WorkloadGroup/shop/catalog-vm',
    ]);
    expect(formatPlan(plan)).to.include('- delete WorkloadGroup/shop/catalog-vm\n  (deleting a WorkloadGroup also deletes the WorkloadEntries');
  });

  it('tears everything down, namespace last, when nothing is desired', function () {
    const plan = planChanges([], deployed(objectsWithSplit(90, 10)));
    expect(plan.delete.at(-1)?.kind).to.equal('Namespace');
    expect(plan.delete).to.have.length(objectsWithSplit(90, 10).length);
  });

  it('writes unified diffs with context and line numbers', function () {
    const letters = 'abcdefghijklmnopqrst'.split('');
    const before = letters.join('\n') + '\n';
    const after = [...letters.slice(0, 4), 'E', ...letters.slice(5), 'u'].join('\n') + '\n';
    expect(unifiedDiff(before, after, { from: 'old', to: 'new' })).to.equal(
      ['--- old', '+++ new', '@@ -2,7 +2,7 @@', ' b', ' c', ' d', '-e', '+E', ' f', ' g', ' h', '@@ -18,3 +18,4 @@', ' r', ' s', ' t', '+u', ''].join('\n'),
    );
    expect(unifiedDiff(before, before, { from: 'old', to: 'new' })).to.equal('');
  });
});
