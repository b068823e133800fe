import { expect } from 'chai';
import { AppError } from '../errors.js';
import {
  DEFAULT_RETRY_POLICY,
  assertValidStepPolicy,
  backoffMs,
  decideRetry,
  parseRetryAfter,
  retryAfterOf,
  hasAttemptsLeft,
  nextDelayMs,
  retryPolicy,
  retryPolicyConfigSchema,
  stepPolicyConfigSchema,
} from './retry-policy.js';

describe('retry policy', function () {
  const policy = retryPolicy({ initialIntervalMs: 1_000, backoffCoefficient: 2, maximumIntervalMs: 10_000, maximumAttempts: 6 });

  it('grows the backoff ceiling exponentially up to the maximum interval', function () {
    const top = (): number => 0.999_999_999;
    expect([1, 2, 3, 4, 5, 6].map((attempts) => nextDelayMs(policy, attempts, top))).to.deep.equal([999, 1_999, 3_999, 7_999, 9_999, 9_999]);
  });

  it('applies full jitter: the delay is the random fraction of the ceiling', function () {
    expect(nextDelayMs(policy, 3, () => 0)).to.equal(0);
    expect(nextDelayMs(policy, 3, () => 0.5)).to.equal(2_000);
    expect(nextDelayMs(policy, 3, () => 0.25)).to.equal(1_000);
  });

  it('counts attempts with the first one included, and treats 0 as unlimited', function () {
    expect(hasAttemptsLeft(policy, 5)).to.equal(true);
    expect(hasAttemptsLeft(policy, 6)).to.equal(false);
    expect(hasAttemptsLeft({ ...policy, maximumAttempts: 0 }, 1_000)).to.equal(true);
  });

  it('has documented defaults', function () {
    expect(DEFAULT_RETRY_POLICY).to.deep.equal({ initialIntervalMs: 1_000, backoffCoefficient: 2, maximumIntervalMs: 60_000, maximumAttempts: 5 });
    expect(retryPolicy()).to.deep.equal(DEFAULT_RETRY_POLICY);
  });

  it('rejects a maximum interval shorter than the initial one, and a coefficient below 1', function () {
    expect(() => retryPolicy({ initialIntervalMs: 5_000, maximumIntervalMs: 1_000 })).to.throw(AppError).with.property('code', 'INVALID_CONFIG');
    expect(() => retryPolicy({ backoffCoefficient: 0.5 })).to.throw(AppError);
    expect(() => assertValidStepPolicy({ attemptTimeoutMs: 0, retry: DEFAULT_RETRY_POLICY }, 'deliver')).to.throw(/deliver/);
  });

  it('reads durations written as strings in config into milliseconds', function () {
    expect(retryPolicyConfigSchema.parse({ initialInterval: '2s', maximumInterval: '1m30s', maximumAttempts: 3 })).to.deep.equal({
      initialIntervalMs: 2_000,
      backoffCoefficient: 2,
      maximumIntervalMs: 90_000,
      maximumAttempts: 3,
    });
    expect(stepPolicyConfigSchema.parse({ attemptTimeout: '90s', deadline: '10m' })).to.deep.equal({
      attemptTimeoutMs: 90_000,
      retry: DEFAULT_RETRY_POLICY,
      deadlineMs: 600_000,
    });
    expect(retryPolicyConfigSchema.safeParse({ initialInterval: 'soon' }).success).to.equal(false);
    expect(retryPolicyConfigSchema.safeParse({ initialInterval: '2m', maximumInterval: '1m' }).success).to.equal(false);
  });
});

describe('retry decisions', function () {
  const policy = retryPolicy({ initialIntervalMs: 1_000, backoffCoefficient: 2, maximumIntervalMs: 8_000, maximumAttempts: 4 });

  it('backs off exactly without a random source and with full jitter with one', function () {
    expect([1, 2, 3, 4, 5].map((attempts) => backoffMs(policy, attempts))).to.deep.equal([1_000, 2_000, 4_000, 8_000, 8_000]);
    expect(decideRetry(policy, { attempts: 2, nowMs: 0 })).to.deep.equal({ retry: true, delayMs: 2_000 });
    expect(decideRetry(policy, { attempts: 2, nowMs: 0, random: () => 0.5 })).to.deep.equal({ retry: true, delayMs: 1_000 });
  });

  it('waits at least as long as Retry-After asks, even beyond the backoff cap', function () {
    expect(decideRetry(policy, { attempts: 1, nowMs: 0, retryAfterMs: 30_000 })).to.deep.equal({ retry: true, delayMs: 30_000 });
    expect(decideRetry(policy, { attempts: 3, nowMs: 0, retryAfterMs: 10 })).to.deep.equal({ retry: true, delayMs: 4_000 });
  });

  it('stops when the attempts are used up or the retry would start past the deadline', function () {
    expect(decideRetry(policy, { attempts: 4, nowMs: 0 })).to.deep.equal({ retry: false, reason: 'attempts' });
    expect(decideRetry(policy, { attempts: 1, nowMs: 9_500, deadlineMs: 10_000 })).to.deep.equal({ retry: false, reason: 'deadline' });
    expect(decideRetry(policy, { attempts: 1, nowMs: 9_000, deadlineMs: 10_000 })).to.deep.equal({ retry: true, delayMs: 1_000 });
    expect(decideRetry(policy, { attempts: 1, nowMs: 0, deadlineMs: 10_000, retryAfterMs: 20_000 })).to.deep.equal({ retry: false, reason: 'deadline' });
  });

  it('reads Retry-After from the error an HTTP adapter made, ignoring anything that is not a duration', function () {
    expect(retryAfterOf(new AppError('SERVICE_UNREACHABLE', 'busy', { retryable: true, details: { retryAfterMs: 5_000 } }))).to.equal(5_000);
    expect(retryAfterOf(new AppError('SERVICE_UNREACHABLE', 'busy', { retryable: true, details: { retryAfterMs: '5' } }))).to.equal(undefined);
    expect(retryAfterOf(new AppError('SERVICE_UNREACHABLE', 'busy', { retryable: true, details: { retryAfterMs: -1 } }))).to.equal(undefined);
    expect(retryAfterOf(new AppError('SERVICE_UNREACHABLE', 'busy'))).to.equal(undefined);
  });

  it('parses Retry-After as seconds or an HTTP date and ignores anything else', function () {
    const now = Date.parse('2026-05-01T10:00:00Z');
    expect(parseRetryAfter('3', now)).to.equal(3_000);
    expect(parseRetryAfter('Fri, 01 May 2026 10:00:30 GMT', now)).to.equal(30_000);
    expect(parseRetryAfter('', now)).to.equal(undefined);
    expect(parseRetryAfter(undefined, now)).to.equal(undefined);
  });
});
