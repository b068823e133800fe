import { expect } from 'chai';
import { systemClock } from '../clock.js';
import { AppError } from '../errors.js';
import { ManualClock } from '../jobs/manual-clock.js';
import { SAMPLE_VNFD, startTackerFixture, type TackerFixture } from '../../test/support/tacker-sim/tacker-fixture.js';
import { TackerClient, type LcmOpOccWithError } from './tacker-client.js';
import { waitForLcmOpOcc, type LcmOpOccReader } from './vnf-lifecycle.js';
import { buildEqFilter, quoteFilterValue } from './vnf-lifecycle-filter.js';
import type { LcmOperationState } from './sol003-fields.js';
import { rejection } from '../../test/support/app-error-assertions.js';
import { OperationArrivals } from '../orchestrator/operation-arrivals.js';
import type { OperationNotifications } from '../orchestrator/vnf-lifecycle-port.js';

const OP_OCC = '6c3f2a1e-8b7d-4e5f-a9c0-b1d2e3f4a5b6';
const POLL_MS = 5_000;

function opOcc(operationState: LcmOperationState, extra: Partial<LcmOpOccWithError> = {}): LcmOpOccWithError {
  return {
    id: OP_OCC,
    vnfInstanceId: 'e7a1c0b2-3f4d-4c6e-9a8b-1d2e3f4a5b6c',
    operation: 'INSTANTIATE',
    operationState,
    startTime: '2026-01-01T00:00:00.000Z',
    stateEnteredTime: '2026-01-01T00:00:00.000Z',
    ...extra,
  };
}

/** Answers each read with the next outcome (the last one repeats) and records when it was asked. */
function scriptedReader(clock: ManualClock, outcomes: Array<LcmOpOccWithError | AppError>): LcmOpOccReader & { readAt: number[] } {
  const readAt: number[] = [];
  return {
    readAt,
    getLcmOpOcc: () => {
      readAt.push(clock.now());
      const outcome = outcomes[Math.min(readAt.length - 1, outcomes.length - 1)];
      return outcome instanceof AppError ? Promise.reject(outcome) : Promise.resolve(outcome as LcmOpOccWithError);
    },
  };
}

/** Moves the manual clock to each wake-up until the wait settles, so no test waits in real time. */
async function settle<T>(clock: ManualClock, promise: Promise<T>): Promise<T> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  for (let step = 0; step < 1_000 && !done; step += 1) {
    const wakeAt = clock.nextWakeAt();
    await clock.advance(wakeAt === null ? 0 : wakeAt - clock.now());
  }
  return promise;
}

describe('waitForLcmOpOcc', () => {
  let clock: ManualClock;
  beforeEach(() => {
    clock = new ManualClock();
  });

  it('polls at the interval until the occurrence is COMPLETED and returns it', async () => {
    const reader = scriptedReader(clock, [opOcc('STARTING'), opOcc('PROCESSING'), opOcc('COMPLETED')]);
    const start = clock.now();
    const result = await settle(clock, waitForLcmOpOcc(reader, OP_OCC, { clock, pollIntervalMs: POLL_MS, deadlineMs: start + 60_000 }));
    expect(result.operationState).to.equal('COMPLETED');
    expect(reader.readAt.map((at) => at - start)).to.deep.equal([0, POLL_MS, 2 * POLL_MS]);
  });

  for (const state of ['FAILED_TEMP', 'FAILED', 'ROLLED_BACK'] as const) {
    it(`reports ${state} as a non-retryable failure with the occurrence's ProblemDetails`, async () => {
      const error = { status: 422, title: 'Stack create failed', detail: 'No valid host was found for VDU1-0' };
      const reader = scriptedReader(clock, [opOcc('PROCESSING'), opOcc(state, { error })]);
      const failed = await rejection(settle(clock, waitForLcmOpOcc(reader, OP_OCC, { clock, pollIntervalMs: POLL_MS, deadlineMs: clock.now() + 60_000 })));
      expect(failed).to.deep.include({ code: 'REMOTE_COMMAND_FAILED', retryable: false });
      expect(failed.message).to.equal(`Tacker's INSTANTIATE operation ${OP_OCC} ended ${state}: Stack create failed: No valid host was found for VDU1-0.`);
      expect(failed.details).to.deep.include({ vnfLcmOpOccId: OP_OCC, operationState: state, error });
    });
  }

  it('gives up at the deadline with a retryable error naming the last state', async () => {
    const reader = scriptedReader(clock, [opOcc('PROCESSING')]);
    const start = clock.now();
    const failed = await rejection(settle(clock, waitForLcmOpOcc(reader, OP_OCC, { clock, pollIntervalMs: POLL_MS, deadlineMs: start + 12_000 })));
    expect(failed).to.deep.include({ code: 'STEP_TIMEOUT', retryable: true });
    expect(failed.details).to.deep.equal({ vnfLcmOpOccId: OP_OCC, operationState: 'PROCESSING' });
    expect(reader.readAt.map((at) => at - start)).to.deep.equal([0, 5_000, 10_000, 12_000]);
  });

  it('keeps polling through retryable read failures, and stops at a non-retryable one', async () => {
    const unavailable = new AppError('SERVICE_UNREACHABLE', 'Tacker answered with HTTP 503.', { retryable: true });
    const recovered = scriptedReader(clock, [unavailable, opOcc('COMPLETED')]);
    expect((await settle(clock, waitForLcmOpOcc(recovered, OP_OCC, { clock, pollIntervalMs: POLL_MS, deadlineMs: clock.now() + 60_000 }))).operationState).to.equal('COMPLETED');

    const gone = new AppError('NOT_FOUND', 'Tacker answered with HTTP 404.');
    const missing = scriptedReader(clock, [gone]);
    expect(await rejection(settle(clock, waitForLcmOpOcc(missing, OP_OCC, { clock, pollIntervalMs: POLL_MS, deadlineMs: clock.now() + 60_000 })))).to.equal(gone);
    expect(missing.readAt).to.have.length(1);
  });

  it('reports a deadline reached while Tacker could not be read, with the last failure as cause', async () => {
    const unavailable = new AppError('SERVICE_UNREACHABLE', 'Tacker answered with HTTP 503.', { retryable: true });
    const failed = await rejection(settle(clock, waitForLcmOpOcc(scriptedReader(clock, [unavailable]), OP_OCC, { clock, pollIntervalMs: POLL_MS, deadlineMs: clock.now() + 8_000 })));
    expect(failed).to.deep.include({ code: 'STEP_TIMEOUT', retryable: true });
    expect(failed.message).to.match(/could not be read before the deadline/);
    expect(failed.cause).to.equal(unavailable);
  });

  it('stops waiting when the caller aborts', async () => {
    const controller = new AbortController();
    const reader = scriptedReader(clock, [opOcc('PROCESSING')]);
    const waiting = waitForLcmOpOcc(reader, OP_OCC, { clock, signal: controller.signal, pollIntervalMs: POLL_MS, deadlineMs: clock.now() + 60_000 });
    await clock.advance(0);
    expect(clock.pendingSleeps).to.equal(1);
    controller.abort();
    const failed = await rejection(waiting);
    expect(failed).to.deep.include({ code: 'INTERNAL', retryable: false });
    expect(failed.details).to.deep.include({ vnfLcmOpOccId: OP_OCC, cancelled: true });
    expect(reader.readAt).to.have.length(1);
  });

  it('reports the step timing out through the signal as a retryable STEP_TIMEOUT', async () => {
    const controller = new AbortController();
    const waiting = waitForLcmOpOcc(scriptedReader(clock, [opOcc('PROCESSING')]), OP_OCC, { clock, signal: controller.signal, pollIntervalMs: POLL_MS, deadlineMs: clock.now() + 60_000 });
    await clock.advance(0);
    controller.abort(new DOMException('The operation timed out.', 'TimeoutError'));
    expect(await rejection(waiting)).to.deep.include({ code: 'STEP_TIMEOUT', retryable: true });
  });
});

describe('waitForLcmOpOcc against the Tacker simulator', () => {
  let sim: TackerFixture;
  let client: TackerClient;
  beforeEach(async () => {
    sim = await startTackerFixture();
    client = new TackerClient({ baseUrl: sim.sim.url, token: () => Promise.resolve(sim.token), apiVersion: 'v2' });
  });
  afterEach(async () => {
    await sim.stop();
  });

  function waitFor(vnfLcmOpOccId: string): Promise<LcmOpOccWithError> {
    return waitForLcmOpOcc(client, vnfLcmOpOccId, { clock: systemClock, pollIntervalMs: 10, deadlineMs: Date.now() + 10_000 });
  }

  it('reports an instantiation Tacker left FAILED_TEMP, with the error Tacker recorded', async () => {
    const { id } = await client.createVnfInstance({ vnfdId: SAMPLE_VNFD.vnfdId, vnfInstanceName: 'shop-catalog-vm' });
    sim.vms.failNext();
    const { vnfLcmOpOccId } = await client.instantiateVnf(id, { flavourId: 'simple' });
    const failed = await rejection(waitFor(vnfLcmOpOccId));
    expect(failed).to.deep.include({ code: 'REMOTE_COMMAND_FAILED', retryable: false });
    expect(failed.message).to.equal(`Tacker's INSTANTIATE operation ${vnfLcmOpOccId} ended FAILED_TEMP: Stack create failed: No valid host was found for VDU1-0.`);
    expect(failed.details).to.deep.include({ vnfLcmOpOccId, vnfInstanceId: id, operationState: 'FAILED_TEMP' });
    // FAILED_TEMP holds the instance until an operator acts, so a new attempt is refused, retryably.
    expect(await rejection(client.instantiateVnf(id, { flavourId: 'simple' }))).to.deep.include({ code: 'CONFLICT', retryable: true });
  });

  it('reports an instantiation that granting rolled back', async () => {
    const { id } = await client.createVnfInstance({ vnfdId: SAMPLE_VNFD.vnfdId });
    const { vnfLcmOpOccId } = await client.instantiateVnf(id, { flavourId: 'huge' });
    const failed = await rejection(waitFor(vnfLcmOpOccId));
    expect(failed.message).to.match(/ended ROLLED_BACK: Bad Request: FlavourId huge not found in the vnfd\.$/);
    expect(failed.details.operationState).to.equal('ROLLED_BACK');
  });
});

describe('buildEqFilter', () => {
  it('leaves plain values bare and quotes those that would change the expression', () => {
    expect(buildEqFilter('vnfInstanceName', 'shop-catalog-vm')).to.equal('(eq,vnfInstanceName,shop-catalog-vm)');
    expect(buildEqFilter('vnfInstanceName', "shop, 'catalog' (v2)")).to.equal("(eq,vnfInstanceName,'shop, ''catalog'' (v2)')");
    expect(quoteFilterValue('')).to.equal("''");
    expect(quoteFilterValue('a;b')).to.equal("'a;b'");
  });

  it('escapes attribute names with SOL 013 tilde escapes', () => {
    expect(buildEqFilter(['metadata', 'a/b,c@d~e'], 'x')).to.equal('(eq,metadata/a~1b~ac~bd~0e,x)');
  });
});

describe("waitForLcmOpOcc with Tacker's result notifications", () => {
  const LOOK_MS = 1_000;
  const API_READ_MS = 30_000;
  let clock: ManualClock;
  let tackerState: LcmOperationState;
  let readAt: number[];
  let results: Map<string, string>;
  let arrivals: OperationArrivals;
  const reader: LcmOpOccReader = {
    getLcmOpOcc: () => {
      readAt.push(clock.now());
      return Promise.resolve(opOcc(tackerState, tackerState === 'FAILED_TEMP' ? { error: { status: 500, title: 'Helm install failed' } } : {}));
    },
  };
  const notifications = (): OperationNotifications => ({
    latestResult: (id) => Promise.resolve(results.get(id)),
    arrival: (id, signal) => arrivals.arrival(id, signal),
    apiReadIntervalMs: API_READ_MS,
  });

  /** Tacker reaches `state` at `atMs`; `notify` says whether a notification reaches this replica, another one, or none. */
  function tackerEnds(atMs: number, state: LcmOperationState, notify: 'here' | 'other-replica' | 'lost'): void {
    void clock.sleep(atMs - clock.now()).then(() => {
      tackerState = state;
      if (notify === 'lost') return;
      results.set(OP_OCC, `${state}@${atMs}`);
      if (notify === 'here') arrivals.announce(OP_OCC);
    });
  }

  /** Runs the wait to its end; its first look and read happen before the clock moves at all. */
  async function wait(options: { notifications?: OperationNotifications } = {}): Promise<LcmOpOccWithError> {
    const waiting = waitForLcmOpOcc(reader, OP_OCC, { clock, pollIntervalMs: LOOK_MS, deadlineMs: clock.now() + 300_000, notifications: options.notifications ?? notifications() });
    waiting.catch(() => undefined);
    await clock.advance(0);
    return settle(clock, waiting);
  }

  beforeEach(() => {
    clock = new ManualClock();
    tackerState = 'PROCESSING';
    readAt = [];
    results = new Map();
    arrivals = new OperationArrivals();
  });

  it('reads Tacker once at the start and once when the result arrives, at once', async () => {
    const start = clock.now();
    tackerEnds(start + 6_500, 'COMPLETED', 'here');
    expect((await wait()).operationState).to.equal('COMPLETED');
    expect(readAt.map((at) => at - start)).to.deep.equal([0, 6_500]);
    expect(arrivals.waiting, 'no waiter left behind').to.equal(0);
  });

  it('sees a result stored by another replica at its next look at the inbox', async () => {
    const start = clock.now();
    tackerEnds(start + 6_500, 'COMPLETED', 'other-replica');
    await wait();
    expect(readAt.map((at) => at - start)).to.deep.equal([0, 7_000]);
  });

  it('makes up for a lost notification by reading Tacker every apiReadInterval', async () => {
    const start = clock.now();
    tackerEnds(start + 40_000, 'COMPLETED', 'lost');
    expect((await wait()).operationState).to.equal('COMPLETED');
    expect(readAt.map((at) => at - start)).to.deep.equal([0, 30_000, 60_000]);
  });

  it("reports a notified FAILED_TEMP with the error read from Tacker's API", async () => {
    tackerEnds(clock.now() + 3_500, 'FAILED_TEMP', 'here');
    const failed = await rejection(wait());
    expect(failed).to.deep.include({ code: 'REMOTE_COMMAND_FAILED', retryable: false });
    expect(failed.message).to.include('ended FAILED_TEMP: Helm install failed.');
  });

  it('still ends through Tacker reads when the inbox cannot be read', async () => {
    const start = clock.now();
    tackerEnds(start + 10_000, 'COMPLETED', 'lost');
    const broken: OperationNotifications = { ...notifications(), latestResult: () => Promise.reject(new AppError('INTERNAL', 'Job store operation latestOperationEvent failed.', { retryable: true })) };
    await wait({ notifications: broken });
    expect(readAt.map((at) => at - start)).to.deep.equal([0, 30_000]);
  });

  it('reads a result once: a result already seen does not cause a read at every look', async () => {
    const start = clock.now();
    // FAILED_TEMP notified, then an operator retries it in Tacker: the occurrence runs again.
    tackerEnds(start + 2_500, 'FAILED_TEMP', 'here');
    void clock.sleep(2_600).then(() => (tackerState = 'PROCESSING'));
    tackerEnds(start + 50_500, 'COMPLETED', 'here');
    const failed = await rejection(wait());
    expect(failed.message).to.include('FAILED_TEMP');
    expect(readAt.map((at) => at - start)).to.deep.equal([0, 2_500]);
  });
});
