import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { intentsFromNotification, intentsFromOpOcc, type LcmIntent } from './lcm-intents.js';
import { parseLcmNotification, type NormalizedLcmNotification } from './sol003-notification.js';
import { parseLcmOpOcc } from './vnf-lcm-op-occ.js';

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`./testdata/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;
}

function notification(name: string, change: (body: Record<string, unknown>) => void = () => undefined): NormalizedLcmNotification {
  const body = fixture(name);
  change(body);
  const result = parseLcmNotification(body);
  if (result.kind !== 'lcm-op-occ') throw new Error(result.reason);
  return result.notification;
}

function intents(decision: ReturnType<typeof intentsFromNotification>): LcmIntent[] {
  if (decision.decision !== 'act') throw new Error(`expected act, got ${JSON.stringify(decision)}`);
  return decision.intents;
}

const OP_OCC = '6c3f2a1e-8b7d-4e5f-a9c0-b1d2e3f4a5b6';
const SERVER_1 = '8f0e1d2c-3b4a-4596-8877-665544332211';
const SERVER_2 = '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const SERVER_3 = '5d6e7f80-91a2-4b3c-8d4e-5f60718293a4';

describe('LCM intents', () => {
  it('injects every server a COMPLETED INSTANTIATE added, keyed by op occ, state, server and action', () => {
    expect(intents(intentsFromNotification(notification('v2-instantiate-completed.json')))).to.deep.equal([
      { action: 'inject', serverId: SERVER_1, vduId: 'VDU1', vnfcId: SERVER_1, dedupKey: `${OP_OCC}:COMPLETED:${SERVER_1}:inject` },
      { action: 'inject', serverId: SERVER_2, vduId: 'VDU2', vnfcId: SERVER_2, dedupKey: `${OP_OCC}:COMPLETED:${SERVER_2}:inject` },
    ]);
  });

  it('removes the old server and injects the new one of a v2 HEAL', () => {
    const healed = intents(intentsFromNotification(notification('v2-heal-completed-full.json')));
    expect(healed.map((intent) => [intent.action, intent.serverId])).to.deep.equal([
      ['remove', SERVER_1],
      ['inject', SERVER_3],
    ]);
  });

  it('removes every server of a TERMINATE', () => {
    const terminated = intents(intentsFromNotification(notification('v2-terminate-completed.json')));
    expect(terminated.map((intent) => intent.action)).to.deep.equal(['remove', 'remove']);
  });

  it('injects MODIFIED servers and removes TEMPORARY ones', () => {
    const decision = intentsFromNotification(
      notification('v2-instantiate-completed.json', (body) => {
        const [first, second] = body.affectedVnfcs as Array<Record<string, unknown>>;
        if (first === undefined || second === undefined) throw new Error('fixture has two VNFCs');
        first.changeType = 'MODIFIED';
        second.changeType = 'TEMPORARY';
      }),
    );
    expect(intents(decision).map((intent) => intent.action)).to.deep.equal(['inject', 'remove']);
  });

  it('acts on a v1 SCALE whose VNFCs came snake_case', () => {
    expect(intents(intentsFromNotification(notification('v1-scale-completed.json')))).to.deep.equal([
      {
        action: 'inject',
        serverId: SERVER_3,
        vduId: 'VDU1',
        vnfcId: '2d3e4f5a-6b7c-4d8e-9fa0-b1c2d3e4f5a6',
        dedupKey: `1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5:COMPLETED:${SERVER_3}:inject`,
      },
    ]);
  });

  it('asks for the op occ when a COMPLETED notification has no affectedVnfcs (SHORT verbosity)', () => {
    expect(intentsFromNotification(notification('v2-heal-completed-short.json'))).to.deep.equal({ decision: 'needs-op-occ' });
  });

  it('ignores STARTING, PROCESSING and FAILED_TEMP', () => {
    for (const name of ['v2-instantiate-starting.json', 'v2-instantiate-processing.json', 'v1-instantiate-processing.json', 'v2-scale-failed-temp.json', 'v1-heal-failed-temp.json']) {
      const decision = intentsFromNotification(notification(name));
      expect(decision.decision, name).to.equal('ignore');
    }
    expect(intentsFromNotification(notification('v2-scale-failed-temp.json'))).to.deep.equal({ decision: 'ignore', reason: 'Operation state FAILED_TEMP is not a completed change.' });
  });

  it('ignores operations that cannot add or remove servers', () => {
    const decision = intentsFromNotification(notification('v2-instantiate-completed.json', (body) => (body.operation = 'MODIFY_INFO')));
    expect(decision).to.deep.equal({ decision: 'ignore', reason: 'Operation MODIFY_INFO does not add or remove servers.' });
  });

  it('leaves Kubernetes pods to Istio', () => {
    const decision = intentsFromNotification(
      notification('v2-instantiate-completed.json', (body) => {
        for (const vnfc of body.affectedVnfcs as Array<{ computeResource: Record<string, unknown> }>) vnfc.computeResource.vimLevelResourceType = 'Deployment';
      }),
    );
    expect(decision).to.deep.equal({ decision: 'ignore', reason: 'No OpenStack server was added, changed or removed.' });
  });

  it('gives duplicate deliveries, other subscriptions and the op occ the same dedupKeys', () => {
    const first = intents(intentsFromNotification(notification('v2-instantiate-completed.json')));
    const otherSubscription = intents(
      intentsFromNotification(
        notification('v2-instantiate-completed.json', (body) => {
          body.id = 'ffffffff-0000-4000-8000-000000000001';
          body.subscriptionId = 'ffffffff-0000-4000-8000-000000000002';
          body.timeStamp = '2026-05-01T10:02:32Z';
        }),
      ),
    );
    const fromOpOcc = intentsFromOpOcc(parseLcmOpOcc(fixture('v2-lcm-op-occ-instantiate.json')));
    if (fromOpOcc.decision !== 'act') throw new Error('expected act');
    const keys = (list: LcmIntent[]): string[] => list.map((intent) => intent.dedupKey);
    expect(keys(otherSubscription)).to.deep.equal(keys(first));
    expect(keys(fromOpOcc.intents)).to.deep.equal(keys(first));
  });

  it('keeps one intent per key when Tacker lists a VNFC twice', () => {
    const decision = intentsFromNotification(
      notification('v2-instantiate-completed.json', (body) => {
        const vnfcs = body.affectedVnfcs as unknown[];
        vnfcs.push(vnfcs[0]);
      }),
    );
    expect(intents(decision)).to.have.length(2);
  });

  describe('from an operation occurrence', () => {
    it('reads v1 resourceChanges and a JSON-string operationParams', () => {
      const opOcc = parseLcmOpOcc(fixture('v1-lcm-op-occ-instantiate.json'));
      expect(opOcc.additionalParams).to.have.property('meshSidecar');
      const decision = intentsFromOpOcc(opOcc);
      expect(decision.decision === 'act' && decision.intents.map((intent) => intent.serverId)).to.deep.equal([SERVER_1, SERVER_2]);
    });

    it('does not recognise v1 SCALE parameters, which Tacker stored snake_case', () => {
      const opOcc = parseLcmOpOcc(fixture('v1-lcm-op-occ-scale.json'));
      expect(opOcc).not.to.have.property('additionalParams');
      expect(opOcc.startTime).to.equal('2026-05-01T12:13:42.120Z');
    });

    it('ignores an occurrence that is not COMPLETED or lists no VNFC', () => {
      const failed = fixture('v2-lcm-op-occ-instantiate.json');
      failed.operationState = 'FAILED_TEMP';
      expect(intentsFromOpOcc(parseLcmOpOcc(failed)).decision).to.equal('ignore');
      const empty = fixture('v2-lcm-op-occ-instantiate.json');
      delete empty.resourceChanges;
      expect(intentsFromOpOcc(parseLcmOpOcc(empty))).to.deep.equal({ decision: 'ignore', reason: 'The operation occurrence reports no affected VNFCs.' });
    });
  });
});
