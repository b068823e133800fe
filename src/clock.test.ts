import { expect } from 'chai';
import { pause, systemClock, type Clock } from './clock.js';
import { ManualClock } from './jobs/manual-clock.js';

describe('clocks', function () {
  it('ManualClock wakes sleepers in deadline order as time advances, and only then', async function () {
    const clock = new ManualClock(1_000);
    const woke: string[] = [];
    const sleeps = [
      clock.sleep(300).then(() => woke.push(`late@${clock.now()}`)),
      clock.sleep(100).then(() => woke.push(`early@${clock.now()}`)),
    ];
    await clock.advance(99);
    expect(woke).to.deep.equal([]);
    expect(clock.nextWakeAt()).to.equal(1_100);
    await clock.advance(1_000);
    await Promise.all(sleeps);
    expect(woke).to.deep.equal(['early@1100', 'late@1300']);
    expect(clock.now()).to.equal(2_099);
    expect(clock.pendingSleeps).to.equal(0);
  });

  it('ManualClock ends a sleep early when its signal aborts, and forgets it', async function () {
    const clock = new ManualClock();
    const controller = new AbortController();
    const sleep = clock.sleep(60_000, controller.signal);
    expect(clock.pendingSleeps).to.equal(1);
    controller.abort();
    await sleep;
    expect(clock.pendingSleeps).to.equal(0);
  });

  it('systemClock sleeps for real and ends early on abort', async function () {
    const controller = new AbortController();
    const started = Date.now();
    const sleep = systemClock.sleep(60_000, controller.signal);
    controller.abort();
    await sleep;
    expect(Date.now() - started).to.be.lessThan(1_000);
    await systemClock.sleep(1);
  });

  it('pause tolerates clocks whose sleep rejects on abort', async function () {
    const rejecting: Clock = { now: () => 0, sleep: () => Promise.reject(new Error('AbortError')) };
    await pause(rejecting, 10);
  });
});
