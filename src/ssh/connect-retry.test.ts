import { expect } from 'chai';
import { AppError } from '../errors.js';
import type { Clock } from '../clock.js';
import { backoffMs, retryUntilDeadline, type RetryPolicy, type RetryUntilDeadlineOptions } from '../retry/retry-policy.js';
import { connectAbortError } from './ssh2-vm-shell.js';

/** Time moves only when the code under test sleeps; every sleep is recorded. */
class FakeClock implements Clock {
  readonly sleeps: number[] = [];
  constructor(private current: number) {}
  now(): number {
    return this.current;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted === true) return Promise.reject(new Error('aborted'));
    this.sleeps.push(ms);
    this.current += ms;
    return Promise.resolve();
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

const policy: RetryPolicy = { initialIntervalMs: 500, maximumIntervalMs: 4_000, backoffCoefficient: 2, maximumAttempts: 0 };
const abortError: RetryUntilDeadlineOptions['abortError'] = connectAbortError;
const refused = (): AppError => new AppError('SSH_CONNECT_FAILED', 'refused', { retryable: true, details: { failure: 'ECONNREFUSED' } });

describe('connect retries until the deadline', function () {
  it('backs off exponentially up to the cap', function () {
    expect([1, 2, 3, 4, 5, 6].map((failures) => backoffMs(policy, failures))).to.deep.equal([500, 1000, 2000, 4000, 4000, 4000]);
  });

  it('retries while sshd refuses, then succeeds, reporting every attempt', async function () {
    const clock = new FakeClock(1_000_000);
    const reported: Array<[number, string | undefined]> = [];
    let calls = 0;
    const value = await retryUntilDeadline(
      () => (++calls < 4 ? Promise.reject(refused()) : Promise.resolve('session')),
      { deadlineMs: 1_060_000, attemptTimeoutMs: 5_000, clock, policy, abortError, onAttempt: (n, error) => reported.push([n, error?.code]) },
    );
    expect(value).to.equal('session');
    expect(clock.sleeps).to.deep.equal([500, 1000, 2000]);
    expect(reported).to.deep.equal([[1, 'SSH_CONNECT_FAILED'], [2, 'SSH_CONNECT_FAILED'], [3, 'SSH_CONNECT_FAILED'], [4, undefined]]);
  });

  it('gives up at the deadline with the last error and the attempt count, never sleeping past it', async function () {
    const clock = new FakeClock(0);
    const timeouts: number[] = [];
    const failure = await retryUntilDeadline(
      (attemptTimeoutMs) => {
        timeouts.push(attemptTimeoutMs);
        clock.advance(100);
        return Promise.reject(refused());
      },
      { deadlineMs: 10_000, attemptTimeoutMs: 3_000, clock, policy, abortError },
    ).catch((error: unknown) => error as AppError);
    expect(failure.code).to.equal('SSH_CONNECT_FAILED');
    expect(failure.retryable).to.equal(true);
    expect(failure.details).to.include({ failure: 'ECONNREFUSED' });
    expect(clock.now()).to.equal(10_000);
    expect(clock.sleeps).to.deep.equal([500, 1000, 2000, 4000, 2000]);
    // The attempt timeout shrinks to what is left before the deadline.
    expect(timeouts).to.deep.equal([3_000, 3_000, 3_000, 3_000, 2_100]);
    expect(failure.details.attempts).to.equal(5);
  });

  it('stops at once on an error that is not retryable', async function () {
    const clock = new FakeClock(0);
    let calls = 0;
    const mismatch = new AppError('SSH_HOST_KEY_MISMATCH', 'mismatch');
    const failure = await retryUntilDeadline(() => {
      calls += 1;
      return Promise.reject(mismatch);
    }, { deadlineMs: 60_000, attemptTimeoutMs: 1_000, clock, policy, abortError }).catch((error: unknown) => error);
    expect(failure).to.equal(mismatch);
    expect(calls).to.equal(1);
    expect(clock.sleeps).to.deep.equal([]);
  });

  it('makes one attempt even when the deadline has already passed, and does not retry it', async function () {
    const clock = new FakeClock(5_000);
    let calls = 0;
    const failure = await retryUntilDeadline((timeoutMs) => {
      calls += 1;
      expect(timeoutMs).to.equal(1);
      return Promise.reject(refused());
    }, { deadlineMs: 4_000, attemptTimeoutMs: 1_000, clock, policy, abortError }).catch((error: unknown) => error as AppError);
    expect(calls).to.equal(1);
    expect(failure.code).to.equal('SSH_CONNECT_FAILED');
  });

  it('ends with STEP_TIMEOUT when the step signal times out between attempts', async function () {
    const clock = new FakeClock(0);
    const controller = new AbortController();
    const failure = await retryUntilDeadline(() => {
      controller.abort(new DOMException('step over', 'TimeoutError'));
      return Promise.reject(refused());
    }, { deadlineMs: 60_000, attemptTimeoutMs: 1_000, clock, policy, abortError, signal: controller.signal }).catch((error: unknown) => error as AppError);
    expect(failure.code).to.equal('STEP_TIMEOUT');
    expect(clock.sleeps).to.deep.equal([]);
  });

  it('stops with a cancelled connect when the job is cancelled during the backoff wait', async function () {
    const controller = new AbortController();
    // Like the jobs clock: an aborted sleep simply ends early.
    const clock: Clock = { now: () => 0, sleep: () => (controller.abort(), Promise.resolve()) };
    let calls = 0;
    const failure = await retryUntilDeadline(() => {
      calls += 1;
      return Promise.reject(refused());
    }, { deadlineMs: 60_000, attemptTimeoutMs: 1_000, clock, policy, abortError, signal: controller.signal }).catch((error: unknown) => error as AppError);
    expect(calls).to.equal(1);
    expect(failure.code).to.equal('SSH_CONNECT_FAILED');
    expect(failure.details).to.include({ cancelled: true });
  });

  it('turns a plain error into a non-retryable INTERNAL one instead of retrying it', async function () {
    const clock = new FakeClock(0);
    const failure = await retryUntilDeadline(() => Promise.reject(new Error('bug')), { deadlineMs: 60_000, attemptTimeoutMs: 1_000, clock, policy, abortError }).catch(
      (error: unknown) => error as AppError,
    );
    expect(failure.code).to.equal('INTERNAL');
    expect(clock.sleeps).to.deep.equal([]);
  });
});
