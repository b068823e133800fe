import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { AppError } from '../errors.js';
import { parseLcmNotification, type NormalizedLcmNotification } from './sol003-notification.js';

/** Fixtures are shaped from Tacker's own builders: v2 common/lcm_op_occ_utils.py make_lcmocc_notif_data, v1 conductor_server.py. */
function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`./testdata/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;
}

function lcm(body: unknown, apiVersion?: 'v1' | 'v2'): NormalizedLcmNotification {
  const result = parseLcmNotification(body, apiVersion === undefined ? {} : { apiVersion });
  if (result.kind !== 'lcm-op-occ') throw new Error(`expected an LCM notification, got ${result.kind}: ${result.reason}`);
  return result.notification;
}

function invalid(body: unknown): AppError {
  try {
    parseLcmNotification(body);
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected INVALID_REQUEST');
}

describe('SOL 003 notifications from Tacker', () => {
  describe('v2', () => {
    it('reads a COMPLETED INSTANTIATE with FULL verbosity into servers per VDU', () => {
      const notification = lcm(fixture('v2-instantiate-completed.json'));
      expect(notification).to.deep.include({
        apiVersion: 'v2',
        vnfInstanceId: 'e7a1c0b2-3f4d-4c6e-9a8b-1d2e3f4a5b6c',
        vnfLcmOpOccId: '6c3f2a1e-8b7d-4e5f-a9c0-b1d2e3f4a5b6',
        operation: 'INSTANTIATE',
        operationState: 'COMPLETED',
        notificationStatus: 'RESULT',
        timeStamp: '2026-05-01T10:02:31.000Z',
        isAutomaticInvocation: false,
        verbosity: 'FULL',
      });
      expect(notification.affectedVnfcs).to.deep.equal([
        { vnfcId: '8f0e1d2c-3b4a-4596-8877-665544332211', vduId: 'VDU1', changeType: 'ADDED', serverId: '8f0e1d2c-3b4a-4596-8877-665544332211', vimLevelResourceType: 'OS::Nova::Server' },
        { vnfcId: '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d', vduId: 'VDU2', changeType: 'ADDED', serverId: '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d', vimLevelResourceType: 'OS::Nova::Server' },
      ]);
    });

    it('takes an error as a ProblemDetails object', () => {
      const notification = lcm(fixture('v2-scale-failed-temp.json'));
      expect(notification.operationState).to.equal('FAILED_TEMP');
      expect(notification.affectedVnfcs, 'not read unless COMPLETED').to.equal(undefined);
    });

    it('leaves affectedVnfcs out when SHORT verbosity leaves them out', () => {
      const notification = lcm(fixture('v2-heal-completed-short.json'));
      expect(notification.verbosity).to.equal('SHORT');
      expect(notification).not.to.have.property('affectedVnfcs');
    });

    it('reads START with STARTING and RESULT with PROCESSING, as v2 sends them', () => {
      expect(lcm(fixture('v2-instantiate-starting.json'))).to.deep.include({ notificationStatus: 'START', operationState: 'STARTING' });
      expect(lcm(fixture('v2-instantiate-processing.json'))).to.deep.include({ notificationStatus: 'RESULT', operationState: 'PROCESSING' });
    });

    it('ignores an identifier creation notification after checking its shape', () => {
      const result = parseLcmNotification(fixture('v2-vnf-identifier-creation.json'));
      expect(result).to.deep.include({ kind: 'ignored', notificationType: 'VnfIdentifierCreationNotification' });
    });
  });

  describe('v1', () => {
    it('reads a naive timestamp with microseconds as UTC and recognises v1 by its subscription link', () => {
      const notification = lcm(fixture('v1-instantiate-completed.json'));
      expect(notification.apiVersion).to.equal('v1');
      expect(notification.timeStamp).to.equal('2026-05-01T10:02:31.482Z');
      expect(notification.affectedVnfcs?.map((vnfc) => [vnfc.vduId, vnfc.serverId])).to.deep.equal([
        ['VDU1', '8f0e1d2c-3b4a-4596-8877-665544332211'],
        ['VDU2', '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d'],
      ]);
    });

    it('reads PROCESSING sent with notificationStatus START', () => {
      expect(lcm(fixture('v1-instantiate-processing.json'))).to.deep.include({ apiVersion: 'v1', notificationStatus: 'START', operationState: 'PROCESSING' });
    });

    it('takes an error as a plain string, and ignores the half-built VNFC of a failed heal', () => {
      const notification = lcm(fixture('v1-heal-failed-temp.json'));
      expect(notification.operationState).to.equal('FAILED_TEMP');
      expect(notification).not.to.have.property('affectedVnfcs');
    });

    it('reads snake_case VNFCs and a string isAutomaticInvocation from a v1 SCALE', () => {
      const notification = lcm(fixture('v1-scale-completed.json'));
      expect(notification.isAutomaticInvocation).to.equal(false);
      expect(notification.timeStamp).to.equal('2026-05-01T12:15:00.000Z');
      expect(notification.affectedVnfcs).to.deep.equal([
        { vnfcId: '2d3e4f5a-6b7c-4d8e-9fa0-b1c2d3e4f5a6', vduId: 'VDU1', changeType: 'ADDED', serverId: '5d6e7f80-91a2-4b3c-8d4e-5f60718293a4', vimLevelResourceType: 'OS::Nova::Server' },
      ]);
    });

    it('ignores an identifier deletion notification whose vnfInstance link is the unexpanded template string v1 sends', () => {
      const result = parseLcmNotification(fixture('v1-vnf-identifier-deletion.json'));
      expect(result).to.deep.include({ kind: 'ignored', notificationType: 'VnfIdentifierDeletionNotification' });
    });

    it('ignores an identifier creation notification with a naive timestamp without fraction and "links"', () => {
      const result = parseLcmNotification(fixture('v1-vnf-identifier-creation.json'), { apiVersion: 'v1' });
      expect(result).to.deep.include({ kind: 'ignored', notificationType: 'VnfIdentifierCreationNotification' });
    });

    it('still refuses an identifier notification without its vnfInstanceId', () => {
      const body = { ...fixture('v1-vnf-identifier-deletion.json'), vnfInstanceId: undefined };
      expect(() => parseLcmNotification(body)).to.throw(/invalid/);
    });
  });

  describe('API version', () => {
    it('follows the route when it says which API it serves', () => {
      const body = fixture('v2-instantiate-completed.json');
      expect(lcm(body, 'v1').apiVersion).to.equal('v1');
    });

    it('guesses from verbosity, then from the timestamp, when there is no subscription link', () => {
      const v2 = fixture('v2-instantiate-starting.json');
      delete v2._links;
      expect(lcm(v2).apiVersion).to.equal('v2');
      delete v2.verbosity;
      expect(lcm(v2).apiVersion, 'zoned timestamp').to.equal('v2');
      const v1 = fixture('v1-instantiate-processing.json');
      delete v1._links;
      expect(lcm(v1).apiVersion, 'naive timestamp').to.equal('v1');
    });
  });

  it('tolerates unknown fields anywhere', () => {
    const body = fixture('v2-instantiate-completed.json');
    body.someFutureField = { nested: [1, 2, 3] };
    const [first] = body.affectedVnfcs as Array<Record<string, unknown>>;
    if (first === undefined) throw new Error('fixture has VNFCs');
    first.zoneId = 'nova';
    (first.computeResource as Record<string, unknown>).extra = true;
    expect(lcm(body).affectedVnfcs).to.have.length(2);
  });

  it('ignores notification types it does not handle', () => {
    expect(parseLcmNotification({ notificationType: 'VnfPackageOnboardingNotification' })).to.deep.include({ kind: 'ignored' });
  });

  it('refuses wrong types with INVALID_REQUEST listing every problem', () => {
    const body = fixture('v2-instantiate-completed.json');
    body.timeStamp = 'yesterday';
    body.operationState = 'DONE';
    body.isAutomaticInvocation = 'maybe';
    body.vnfLcmOpOccId = 42;
    const error = invalid(body);
    expect(error.code).to.equal('INVALID_REQUEST');
    expect(error.problems.map((problem) => problem.path)).to.include.members(['timeStamp', 'operationState', 'isAutomaticInvocation', 'vnfLcmOpOccId']);
  });

  it('refuses a missing mandatory field and a non-object body', () => {
    const body = fixture('v1-instantiate-completed.json');
    delete body.vnfInstanceId;
    expect(invalid(body).problems.map((problem) => problem.path)).to.include('vnfInstanceId');
    expect(invalid('not json').problems.map((problem) => problem.path)).to.deep.equal(['(root)']);
    expect(invalid({}).problems.map((problem) => problem.path)).to.deep.equal(['notificationType']);
  });

  it('refuses a COMPLETED change whose VNFCs are malformed or name no server, with their paths', () => {
    const body = fixture('v2-instantiate-completed.json');
    const vnfcs = body.affectedVnfcs as Array<Record<string, unknown>>;
    (vnfcs[0] as Record<string, unknown>).changeType = 'CREATED';
    expect(invalid(body).problems.map((problem) => problem.path)).to.deep.equal(['affectedVnfcs.0.changeType']);
    (vnfcs[0] as Record<string, unknown>).changeType = 'ADDED';
    ((vnfcs[1] as Record<string, unknown>).computeResource as Record<string, unknown>).resourceId = '';
    expect(invalid(body).problems).to.deep.equal([{ path: 'affectedVnfcs.1.computeResource.resourceId', message: 'a completed change must name its server' }]);
  });
});
