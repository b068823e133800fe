import { expect } from 'chai';
import { AppError } from '../errors.js';
import { ManualClock } from '../jobs/manual-clock.js';
import { chooseAddress, waitUntilActive, type ServerDirectory, type ServerInfo } from './server-directory.js';
import { rejection } from '../../test/support/app-error-assertions.js';

function server(overrides: Partial<ServerInfo> = {}): ServerInfo {
  return {
    id: '5f0c1d6e-2b1c-4c9a-9a47-6f1b2a3c4d5e',
    name: 'vnf-web-0',
    status: 'ACTIVE',
    addresses: [
      { network: 'mgmt', address: '2001:db8::5', version: 6, type: 'fixed' },
      { network: 'mgmt', address: '203.0.113.7', version: 4, type: 'floating' },
      { network: 'mgmt', address: '10.0.0.5', version: 4, type: 'fixed' },
      { network: 'data', address: '10.1.0.5', version: 4, type: 'fixed' },
    ],
    metadata: {},
    ...overrides,
  };
}

function failure(action: () => unknown): AppError {
  try {
    action();
  } catch (error) {
    return error as AppError;
  }
  return expect.fail('expected an error');
}


/** Answers from a script, one entry per call; the last one repeats. */
class ScriptedDirectory implements ServerDirectory {
  calls = 0;
  constructor(private readonly script: Array<ServerInfo | undefined | AppError>) {}

  getServer(): Promise<ServerInfo | undefined> {
    const next = this.script[Math.min(this.calls, this.script.length - 1)];
    this.calls += 1;
    return next instanceof AppError ? Promise.reject(next) : Promise.resolve(next);
  }
}

async function untilSleeping(clock: ManualClock): Promise<void> {
  for (let turn = 0; turn < 1000 && clock.pendingSleeps === 0; turn += 1) await new Promise((resolve) => setImmediate(resolve));
  expect(clock.pendingSleeps, 'the wait should be sleeping').to.be.greaterThan(0);
}

describe('chooseAddress', function () {
  it('picks the fixed IPv4 address on the named network before floating and IPv6 ones', function () {
    expect(chooseAddress(server(), { network: 'mgmt' })).to.equal('10.0.0.5');
    expect(chooseAddress(server(), { network: 'data' })).to.equal('10.1.0.5');
  });

  it('honours type and IP version, and writes IPv6 in canonical form', function () {
    expect(chooseAddress(server(), { network: 'mgmt', type: 'floating' })).to.equal('203.0.113.7');
    expect(chooseAddress(server(), { network: 'mgmt', ipVersion: 6 })).to.equal('2001:db8::5');
    const uncanonical = server({ addresses: [{ network: 'v6', address: '2001:DB8:0:0::0:9', version: 6, type: 'fixed' }] });
    expect(chooseAddress(uncanonical, {})).to.equal('2001:db8::9');
  });

  it('needs no network when the server has one, but refuses to guess among several', function () {
    const single = server({ addresses: server().addresses.filter((address) => address.network === 'mgmt') });
    expect(chooseAddress(single, {})).to.equal('10.0.0.5');
    const error = failure(() => chooseAddress(server(), {}));
    expect(error.code).to.equal('INVALID_CONFIG');
    expect(error.retryable).to.equal(false);
    expect(error.message).to.contain('on 2 networks; name the network to use');
  });

  it('names the networks and addresses the server has when nothing matches', function () {
    const error = failure(() => chooseAddress(server(), { network: 'storage', ipVersion: 4 }));
    expect(error.message).to.equal(
      'Server vnf-web-0 (5f0c1d6e-2b1c-4c9a-9a47-6f1b2a3c4d5e) has no IPv4 addresses on network storage. ' +
        'It has: mgmt: 2001:db8::5 (fixed), 203.0.113.7 (floating), 10.0.0.5 (fixed); data: 10.1.0.5 (fixed).',
    );
    expect(error.details.available).to.have.length(4);
  });

  it('treats a server without any address yet as retryable', function () {
    const error = failure(() => chooseAddress(server({ addresses: [] }), { network: 'mgmt' }));
    expect(error.retryable).to.equal(true);
  });
});

describe('waitUntilActive', function () {
  it('polls with backoff while the server builds and returns it once ACTIVE', async function () {
    const clock = new ManualClock();
    const directory = new ScriptedDirectory([server({ status: 'BUILD' }), server({ status: 'BUILD' }), server()]);
    const waiting = waitUntilActive(directory, 'id', { deadlineMs: clock.now() + 60_000, clock });
    await untilSleeping(clock);
    expect(clock.nextWakeAt()).to.equal(clock.now() + 2_000);
    await clock.advance(2_000);
    await untilSleeping(clock);
    expect(clock.nextWakeAt()).to.equal(clock.now() + 3_000);
    await clock.advance(3_000);
    expect((await waiting).status).to.equal('ACTIVE');
    expect(directory.calls).to.equal(3);
  });

  it('fails at once, not retryable, when the server goes to ERROR, naming Nova’s fault', async function () {
    const clock = new ManualClock();
    const directory = new ScriptedDirectory([server({ status: 'BUILD' }), server({ status: 'ERROR', fault: 'No valid host was found.' })]);
    const waiting = rejection(waitUntilActive(directory, 'id', { deadlineMs: clock.now() + 60_000, clock }));
    await untilSleeping(clock);
    await clock.advance(2_000);
    const error = await waiting;
    expect(error.retryable).to.equal(false);
    expect(error.code).to.equal('CONFLICT');
    expect(error.message).to.equal('Server vnf-web-0 (5f0c1d6e-2b1c-4c9a-9a47-6f1b2a3c4d5e) is in ERROR: No valid host was found.');
  });

  it('fails at once when the server is deleted or unknown to Nova', async function () {
    const clock = new ManualClock();
    for (const answer of [undefined, server({ status: 'DELETED' })]) {
      const error = await rejection(waitUntilActive(new ScriptedDirectory([answer]), 'gone-id', { deadlineMs: clock.now() + 60_000, clock }));
      expect(error.code).to.equal('NOT_FOUND');
      expect(error.retryable).to.equal(false);
    }
  });

  it('waits out retryable failures to ask and ends retryable at the deadline with the last status', async function () {
    const clock = new ManualClock();
    const unavailable = new AppError('SERVICE_UNREACHABLE', 'Nova answered with HTTP 503.', { retryable: true });
    const directory = new ScriptedDirectory([unavailable, server({ status: 'BUILD' })]);
    const waiting = rejection(waitUntilActive(directory, 'id', { deadlineMs: clock.now() + 10_000, clock, poll: { initialIntervalMs: 4_000, backoffCoefficient: 1 } }));
    for (let turn = 0; turn < 3; turn += 1) {
      await untilSleeping(clock);
      await clock.advance(4_000);
    }
    const error = await waiting;
    expect(error.retryable).to.equal(true);
    expect(error.message).to.equal('Server id is still BUILD at the deadline for becoming ACTIVE.');
    expect(error.details).to.include({ status: 'BUILD', polls: 4 });
  });

  it('stops with the abort reason when its signal aborts', async function () {
    const clock = new ManualClock();
    const controller = new AbortController();
    const waiting = rejection(waitUntilActive(new ScriptedDirectory([server({ status: 'BUILD' })]), 'id', { deadlineMs: clock.now() + 60_000, clock, signal: controller.signal }));
    await untilSleeping(clock);
    controller.abort(new AppError('STEP_TIMEOUT', 'Step resolve did not finish within 1000 ms.', { retryable: true }));
    expect((await waiting).code).to.equal('STEP_TIMEOUT');
  });
});
