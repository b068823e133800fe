import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { appendToRunLog, createTestLogger } from '../../test/support/run-log.js';
import { AppError } from '../errors.js';
import { InMemoryJobStore } from './in-memory-job-store.js';
import type { Job, JobState, JsonValue } from './job.js';
import {
  JobRunner,
  type JobRunnerOptions,
  type JobTransitionEvent,
  type StepContext,
  type StepDefinition,
  type StepFinishedEvent,
} from './job-runner.js';
import type { ClaimRequest, CreateJobResult, JobListFilter, JobLogLine, JobStore } from './job-store.js';
import { ManualClock } from './manual-clock.js';
import type { StepPolicy } from '../retry/retry-policy.js';
import { SqliteJobStore } from './sqlite-job-store.js';

const NOW = Date.UTC(2026, 4, 1, 10);
const ATTEMPT_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;
/** With random() = 0.5, full jitter makes every backoff half its ceiling: 500 ms, 1 s, 2 s … */
const HALF = (): number => 0.5;

const POLICY: StepPolicy = {
  attemptTimeoutMs: ATTEMPT_TIMEOUT_MS,
  retry: { initialIntervalMs: 1_000, backoffCoefficient: 2, maximumIntervalMs: 10_000, maximumAttempts: 3 },
};

type Handler = (context: StepContext) => Promise<JsonValue | void>;

function step(name: string, run: Handler, policy: StepPolicy = POLICY): StepDefinition {
  return { name, policy, run };
}

const succeed: Handler = () => Promise.resolve();

function retryable(message = 'sshd refused the connection'): AppError {
  return new AppError('SSH_CONNECT_FAILED', message, { retryable: true });
}

/** A promise a test opens by hand: stands in for a remote command that takes a while. */
class Gate {
  readonly promise: Promise<void>;
  open!: () => void;
  constructor() {
    this.promise = new Promise((resolve) => (this.open = resolve));
  }
}

/** Collects observer events and lets a test await a condition; fails fast instead of hanging mocha. */
class Recorder {
  readonly transitions: JobTransitionEvent[] = [];
  readonly steps: StepFinishedEvent[] = [];

  readonly events = {
    onTransition: (event: JobTransitionEvent): void => {
      this.transitions.push(event);
    },
    onStepFinished: (event: StepFinishedEvent): void => {
      this.steps.push(event);
    },
  };

  async state(jobId: string, state: JobState, occurrence = 1): Promise<Job> {
    const matches = (): JobTransitionEvent[] => this.transitions.filter((event) => event.job.id === jobId && event.to === state);
    await this.until(() => matches().length >= occurrence, `job ${jobId} reaching ${state} (${occurrence})`);
    return matches()[occurrence - 1]!.job;
  }

  /** Checks once per event-loop turn: lets the runner's promises and I/O settle, never sleeps. */
  async until(condition: () => boolean, label: string): Promise<void> {
    const deadline = Date.now() + 3_000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
      await turn();
    }
  }

  path(jobId: string): string[] {
    return this.transitions.filter((event) => event.job.id === jobId).map((event) => `${event.from}>${event.to}`);
  }
}

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Counts what the runner asks of the store, to prove it saves per step and never polls. */
class CountingStore implements JobStore {
  readonly calls: Record<string, number> = {};
  constructor(readonly inner: JobStore) {}
  private count(name: string): void {
    this.calls[name] = (this.calls[name] ?? 0) + 1;
  }
  create(job: Job): Promise<CreateJobResult> {
    this.count('create');
    return this.inner.create(job);
  }
  get(jobId: string): Promise<Job | null> {
    return this.inner.get(jobId);
  }
  list(filter?: JobListFilter): Promise<Job[]> {
    return this.inner.list(filter);
  }
  save(job: Job): Promise<Job> {
    this.count('save');
    return this.inner.save(job);
  }
  claimNext(request: ClaimRequest): Promise<Job | null> {
    this.count('claimNext');
    return this.inner.claimNext(request);
  }
  countByState(): Promise<Record<JobState, number>> {
    return this.inner.countByState();
  }
  findRunning(): Promise<Job[]> {
    return this.inner.findRunning();
  }
  earliestRetryAfter(after: number): Promise<number | null> {
    this.count('earliestRetryAfter');
    return this.inner.earliestRetryAfter(after);
  }
  appendLog(jobId: string, lines: readonly JobLogLine[]): Promise<void> {
    return this.inner.appendLog(jobId, lines);
  }
  readLog(jobId: string): Promise<JobLogLine[]> {
    return this.inner.readLog(jobId);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

interface Harness {
  clock: ManualClock;
  store: CountingStore;
  recorder: Recorder;
  runner: JobRunner;
  submit(subjectKey?: string, idempotencyKey?: string): Promise<Job>;
  advanceToRetry(jobId: string): Promise<void>;
}

const runners: JobRunner[] = [];

/**
 * Runs a real runner on `file` in a child Node process, waits until its second step is running
 * (so the first step's result was committed), and kills it with SIGKILL: no cleanup code runs.
 */
async function runUntilKilled(file: string): Promise<{ jobId: string; pid: number }> {
  const module = (name: string): string => JSON.stringify(pathToFileURL(path.join(import.meta.dirname, name)).href);
  const code = `
    const { SqliteJobStore } = await import(${module('sqlite-job-store.ts')});
    const { JobRunner } = await import(${module('job-runner.ts')});
    const { systemClock } = await import(${module('../clock.ts')});
    const { createLogger } = await import(${module('../log.ts')});
    const policy = { attemptTimeoutMs: 600000, retry: { initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 1000, maximumAttempts: 3 } };
    const steps = [
      { name: 'resolve', policy, run: async () => ({ address: '198.51.100.7' }) },
      { name: 'deliver', policy, run: () => { process.stdout.write('deliver running\\n'); return new Promise(() => {}); } },
      { name: 'verify', policy, run: async () => undefined },
    ];
    const store = SqliteJobStore.open({ path: ${JSON.stringify(file)} });
    const runner = new JobRunner({ store, steps: { inject: steps }, clock: systemClock, logger: createLogger({ silent: true }), concurrency: 1, stopGraceMs: 0 });
    await runner.start();
    const { job } = await runner.submit({ kind: 'inject', subjectKey: 'server-a', input: {} });
    process.stdout.write('job ' + job.id + '\\n');
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const output = await new Promise<string>((resolve, reject) => {
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (/job \S+\n/.test(text) && text.includes('deliver running')) resolve(text);
      });
      child.stderr.on('data', (chunk: Buffer) => appendToRunLog('job-runner crash child', chunk.toString()));
      child.once('exit', (code) => reject(new Error(`child exited early with ${code}: ${text}`)));
    });
    const jobId = /job (\S+)\n/.exec(output)?.[1];
    if (!jobId) return expect.fail('no job id from the child');
    return { jobId, pid: child.pid! };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }
}

function harness(steps: StepDefinition[], overrides: Partial<JobRunnerOptions> = {}): Harness {
  const clock = (overrides.clock as ManualClock | undefined) ?? new ManualClock(NOW);
  const store = new CountingStore(overrides.store ?? new InMemoryJobStore());
  const recorder = new Recorder();
  const runner = new JobRunner({
    clock,
    logger: createTestLogger(),
    concurrency: 4,
    stopGraceMs: STOP_GRACE_MS,
    random: HALF,
    events: recorder.events,
    ...overrides,
    store,
    steps: { inject: steps, remove: steps },
  });
  runners.push(runner);
  return {
    clock,
    store,
    recorder,
    runner,
    submit: async (subjectKey = 'server-a', idempotencyKey) =>
      (await runner.submit({ kind: 'inject', subjectKey, input: { vdu: 'VDU1' }, ...(idempotencyKey ? { idempotencyKey } : {}) })).job,
    advanceToRetry: async (jobId) => {
      const job = await store.get(jobId);
      if (job?.nextAttemptAt == null) return expect.fail(`job ${jobId} waits for no retry`);
      await clock.advance(job.nextAttemptAt - clock.now());
    },
  };
}

async function stored(store: JobStore, jobId: string): Promise<Job> {
  const job = await store.get(jobId);
  if (!job) return expect.fail(`job ${jobId} is not stored`);
  return job;
}

describe('JobRunner', function () {
  afterEach(async function () {
    // Runners a test left running are stopped with their grace period cut short.
    await Promise.all(runners.splice(0).map((runner) => runner.stop()));
  });

  describe('success path', function () {
    it('runs the steps in order, saving after every step, and passes outputs forward', async function () {
      const seenByDeliver: Array<{ outputs: StepContext['outputs']; storedResolve: unknown }> = [];
      const h = harness([
        step('resolve', () => Promise.resolve({ address: '198.51.100.7' })),
        step('deliver', async (context) => {
          const persisted = await h.store.get(context.job.id);
          seenByDeliver.push({ outputs: context.outputs, storedResolve: persisted?.steps[0] });
          context.appendLog('installing istio-sidecar\nistio.service enabled');
          return 'ok';
        }),
      ]);
      await h.runner.start();
      const job = await h.submit();
      const done = await h.recorder.state(job.id, 'succeeded');

      expect(seenByDeliver[0]?.outputs).to.deep.equal({ resolve: { address: '198.51.100.7' } });
      expect(seenByDeliver[0]?.storedResolve).to.include({ state: 'succeeded', attempts: 1 });
      expect(h.recorder.path(job.id)).to.deep.equal(['pending>running', 'running>succeeded']);
      expect(done.steps.map((s) => [s.name, s.state, s.attempts, s.output])).to.deep.equal([
        ['resolve', 'succeeded', 1, { address: '198.51.100.7' }],
        ['deliver', 'succeeded', 1, 'ok'],
      ]);
      expect(done).to.include({ attempt: 1, finishedAt: NOW, lastError: null });
      // Claim, then per step: running before the attempt and succeeded after it, then the final state.
      expect(h.store.calls.save).to.equal(5);
      expect(await stored(h.store, job.id)).to.deep.equal(done);
      const log = (await h.store.readLog(job.id)).map((line) => line.line);
      expect(log).to.include.members(['installing istio-sidecar', 'istio.service enabled', 'step deliver: succeeded in 0 ms']);
      expect(h.recorder.steps.map((event) => `${event.stepName}:${event.outcome}`)).to.deep.equal(['resolve:succeeded', 'deliver:succeeded']);
    });

    it('returns the existing job for a repeated idempotency key and runs it once', async function () {
      let runs = 0;
      const h = harness([step('resolve', () => Promise.resolve(void runs++))]);
      await h.runner.start();
      const first = await h.runner.submit({ kind: 'inject', subjectKey: 'server-a', input: {}, idempotencyKey: 'op-1:COMPLETED:server-a' });
      const second = await h.runner.submit({ kind: 'inject', subjectKey: 'server-a', input: {}, idempotencyKey: 'op-1:COMPLETED:server-a' });
      await h.recorder.state(first.job.id, 'succeeded');
      expect(second).to.include({ created: false });
      expect(second.job.id).to.equal(first.job.id);
      expect(runs).to.equal(1);
    });

    it('keeps secrets out of step outputs and log lines', async function () {
      const h = harness([
        step('bootstrap', (context) => {
          context.appendLog('token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl minted');
          return Promise.resolve({ tokenSha256: 'ab12', token: 'should-not-be-stored' });
        }),
      ]);
      await h.runner.start();
      const job = await h.submit();
      const done = await h.recorder.state(job.id, 'succeeded');
      expect(done.steps[0]?.output).to.deep.equal({ tokenSha256: 'ab12', token: '[REDACTED]' });
      expect((await h.store.readLog(job.id)).map((line) => line.line)).to.include('token [REDACTED] minted');
    });
  });

  describe('failures and retries', function () {
    it('retries a retryable failure after a backoff, then succeeds without re-running earlier steps', async function () {
      let resolveRuns = 0;
      let deliverRuns = 0;
      const h = harness([
        step('resolve', () => Promise.resolve(void resolveRuns++)),
        step('deliver', () => (++deliverRuns === 1 ? Promise.reject(retryable()) : Promise.resolve())),
      ]);
      await h.runner.start();
      const job = await h.submit();
      const waiting = await h.recorder.state(job.id, 'retry_wait');
      expect(waiting.nextAttemptAt).to.equal(NOW + 500);
      expect(waiting.steps[1]).to.deep.include({ state: 'pending', attempts: 1, lastError: { code: 'SSH_CONNECT_FAILED', message: 'sshd refused the connection', retryable: true } });
      expect(await stored(h.store, job.id)).to.include({ state: 'retry_wait' });

      await h.clock.advance(499);
      expect(deliverRuns, 'not before the backoff ends').to.equal(1);
      await h.clock.advance(1);
      const done = await h.recorder.state(job.id, 'succeeded');
      expect(h.recorder.path(job.id)).to.deep.equal(['pending>running', 'running>retry_wait', 'retry_wait>running', 'running>succeeded']);
      expect([resolveRuns, deliverRuns]).to.deep.equal([1, 2]);
      expect(done.steps[1]).to.include({ state: 'succeeded', attempts: 2 });
      expect(done.attempt).to.equal(2);
      expect(h.recorder.steps.map((event) => `${event.stepName}:${event.outcome}`)).to.deep.equal(['resolve:succeeded', 'deliver:retrying', 'deliver:succeeded']);
    });

    it('moves to failed_temp when retries run out, leaving later steps pending for an operator retry', async function () {
      const h = harness([step('deliver', () => Promise.reject(retryable())), step('verify', succeed)]);
      await h.runner.start();
      const job = await h.submit();
      await h.recorder.state(job.id, 'retry_wait', 1);
      await h.advanceToRetry(job.id);
      await h.recorder.state(job.id, 'retry_wait', 2);
      expect((await stored(h.store, job.id)).nextAttemptAt, 'backoff doubles').to.equal(NOW + 500 + 1_000);
      await h.advanceToRetry(job.id);
      const failed = await h.recorder.state(job.id, 'failed_temp');
      expect(failed.steps.map((s) => [s.name, s.state, s.attempts])).to.deep.equal([
        ['deliver', 'failed', 3],
        ['verify', 'pending', 0],
      ]);
      expect(failed).to.include({ nextAttemptAt: null, stateReason: 'step deliver failed; retries exhausted' });
      expect(failed.lastError).to.include({ code: 'SSH_CONNECT_FAILED', retryable: true });
    });

    it('stops retrying once the next retry would start past the step deadline', async function () {
      const policy: StepPolicy = { ...POLICY, retry: { ...POLICY.retry, maximumAttempts: 0 }, deadlineMs: 1_200 };
      const h = harness([step('deliver', () => Promise.reject(retryable()), policy)]);
      await h.runner.start();
      const job = await h.submit();
      await h.recorder.state(job.id, 'retry_wait');
      await h.advanceToRetry(job.id); // second attempt at +500; its retry would be at +1500 > 1200
      const failed = await h.recorder.state(job.id, 'failed_temp');
      expect(failed.steps[0]?.attempts).to.equal(2);
    });

    it('waits as long as a Retry-After on the error asks when that is longer than the backoff', async function () {
      const busy = new AppError('SERVICE_UNREACHABLE', 'Tacker answered with HTTP 503', { retryable: true, details: { retryAfterMs: 30_000 } });
      let runs = 0;
      const h = harness([step('deliver', () => (++runs === 1 ? Promise.reject(busy) : Promise.resolve()))]);
      await h.runner.start();
      const job = await h.submit();
      const waiting = await h.recorder.state(job.id, 'retry_wait');
      expect(waiting.nextAttemptAt).to.equal(NOW + 30_000);
      await h.clock.advance(29_999);
      expect(runs, 'not before the server said').to.equal(1);
      await h.clock.advance(1);
      await h.recorder.state(job.id, 'succeeded');
      expect(runs).to.equal(2);
    });

    it('fails at once on a non-retryable error and skips the remaining steps', async function () {
      let verifyRuns = 0;
      const h = harness([
        step('deliver', () => Promise.reject(new AppError('SSH_HOST_KEY_MISMATCH', 'host key changed'))),
        step('verify', () => Promise.resolve(void verifyRuns++)),
      ]);
      await h.runner.start();
      const job = await h.submit();
      const failed = await h.recorder.state(job.id, 'failed');
      expect(h.recorder.path(job.id)).to.deep.equal(['pending>running', 'running>failed']);
      expect(failed.steps.map((s) => s.state)).to.deep.equal(['failed', 'skipped']);
      expect(failed.lastError).to.deep.equal({ code: 'SSH_HOST_KEY_MISMATCH', message: 'host key changed', retryable: false });
      expect(failed.finishedAt).to.equal(NOW);
      expect(verifyRuns).to.equal(0);
    });

    it('treats a plain Error from a step as a non-retryable INTERNAL error', async function () {
      const h = harness([step('deliver', () => Promise.reject(new Error('undefined is not a function')))]);
      await h.runner.start();
      const job = await h.submit();
      const failed = await h.recorder.state(job.id, 'failed');
      expect(failed.lastError).to.include({ code: 'INTERNAL', retryable: false });
    });

    it('aborts an attempt at its timeout and retries it as STEP_TIMEOUT', async function () {
      const reasons: unknown[] = [];
      let attempts = 0;
      const h = harness([
        step('verify', (context) => {
          if (++attempts > 1) return Promise.resolve();
          return new Promise((_resolve, reject) => {
            context.signal.addEventListener('abort', () => {
              reasons.push(context.signal.reason);
              reject(new Error('aborted'));
            });
          });
        }),
      ]);
      await h.runner.start();
      const job = await h.submit();
      await h.recorder.until(() => attempts === 1, 'first attempt');
      await h.clock.advance(ATTEMPT_TIMEOUT_MS - 1);
      expect(h.recorder.path(job.id)).to.deep.equal(['pending>running']);
      await h.clock.advance(1);
      const waiting = await h.recorder.state(job.id, 'retry_wait');
      expect(waiting.lastError).to.include({ code: 'STEP_TIMEOUT', retryable: true });
      expect(reasons[0]).to.be.instanceOf(AppError).with.property('code', 'STEP_TIMEOUT');
      await h.advanceToRetry(job.id);
      await h.recorder.state(job.id, 'succeeded');
    });

    it('does not wait for a step that ignores its abort signal past the timeout', async function () {
      const h = harness([step('verify', () => new Promise<void>(() => undefined), { ...POLICY, retry: { ...POLICY.retry, maximumAttempts: 1 } })]);
      await h.runner.start();
      const job = await h.submit();
      await h.recorder.until(() => h.clock.pendingSleeps > 0, 'the attempt timer');
      await h.clock.advance(ATTEMPT_TIMEOUT_MS);
      const failed = await h.recorder.state(job.id, 'failed_temp');
      expect(failed.lastError?.code).to.equal('STEP_TIMEOUT');
      expect(h.runner.activeCount).to.equal(0);
    });

    it('keeps running when an observer throws', async function () {
      const recorder = new Recorder();
      const h = harness([step('resolve', succeed)], {
        events: {
          onTransition: (event) => {
            recorder.events.onTransition(event);
            throw new Error('metrics backend down');
          },
        },
      });
      await h.runner.start();
      const job = await h.submit();
      await recorder.state(job.id, 'succeeded');
      expect((await stored(h.store, job.id)).state).to.equal('succeeded');
    });
  });

  describe('operator actions', function () {
    async function failedTempJob(h: Harness): Promise<Job> {
      const job = await h.submit();
      await h.recorder.state(job.id, 'retry_wait', 1);
      await h.advanceToRetry(job.id);
      await h.recorder.state(job.id, 'retry_wait', 2);
      await h.advanceToRetry(job.id);
      return h.recorder.state(job.id, 'failed_temp');
    }

    it('retry puts a failed_temp job back to pending with fresh attempts, and it runs on', async function () {
      let healthy = false;
      let resolveRuns = 0;
      const h = harness([
        step('resolve', () => Promise.resolve(void resolveRuns++)),
        step('deliver', () => (healthy ? Promise.resolve() : Promise.reject(retryable()))),
      ]);
      await h.runner.start();
      const job = await failedTempJob(h);
      healthy = true;
      const retried = await h.runner.retry(job.id);
      expect(retried).to.include({ state: 'pending', stateReason: 'retried by operator', lastError: null });
      expect(retried.steps[1]).to.include({ state: 'pending', attempts: 0, startedAt: null });
      const done = await h.recorder.state(job.id, 'succeeded');
      expect(done.steps[1]).to.include({ state: 'succeeded', attempts: 1 });
      expect(resolveRuns).to.equal(1);
      expect(h.recorder.path(job.id).slice(-3)).to.deep.equal(['failed_temp>pending', 'pending>running', 'running>succeeded']);
    });

    it('abandon makes a failed_temp job failed and lets the next job of the same VM run', async function () {
      let fail = true;
      const h = harness([step('deliver', () => (fail ? Promise.reject(retryable()) : Promise.resolve())), step('verify', succeed)]);
      await h.runner.start();
      const stuck = await failedTempJob(h);
      fail = false;
      const removal = await h.submit('server-a');
      await h.clock.advance(60_000);
      expect((await stored(h.store, removal.id)).state, 'held by the failed_temp job').to.equal('pending');
      const abandoned = await h.runner.abandon(stuck.id);
      expect(abandoned).to.include({ state: 'failed', stateReason: 'abandoned by operator' });
      expect(abandoned.steps.map((s) => s.state)).to.deep.equal(['failed', 'skipped']);
      await h.recorder.state(removal.id, 'succeeded');
    });

    it('refuses operator actions on jobs in other states (CONFLICT) and on unknown jobs (NOT_FOUND)', async function () {
      const h = harness([step('resolve', succeed)]);
      await h.runner.start();
      const job = await h.submit();
      await h.recorder.state(job.id, 'succeeded');
      for (const action of [() => h.runner.retry(job.id), () => h.runner.abandon(job.id)]) {
        try {
          await action();
          expect.fail('expected CONFLICT');
        } catch (error) {
          expect(error).to.have.property('code', 'CONFLICT');
        }
      }
      try {
        await h.runner.retry('no-such-job');
        expect.fail('expected NOT_FOUND');
      } catch (error) {
        expect(error).to.have.property('code', 'NOT_FOUND');
      }
    });
  });

  describe('scheduling', function () {
    it('never runs more jobs at once than the concurrency bound', async function () {
      const gates = new Map<string, Gate>();
      let running = 0;
      let peak = 0;
      const h = harness(
        [
          step('deliver', async (context) => {
            running++;
            peak = Math.max(peak, running);
            const gate = new Gate();
            gates.set(context.job.subjectKey, gate);
            await gate.promise;
            running--;
          }),
        ],
        { concurrency: 2 },
      );
      await h.runner.start();
      const jobs = await Promise.all(['vm-1', 'vm-2', 'vm-3', 'vm-4'].map((vm) => h.submit(vm)));
      await h.recorder.until(() => gates.size === 2, 'two jobs started');
      await turn();
      expect(gates.size, 'the third job waits for a slot').to.equal(2);
      expect([...gates.keys()], 'oldest first').to.deep.equal(['vm-1', 'vm-2']);
      gates.get('vm-1')!.open();
      await h.recorder.until(() => gates.size === 3, 'third job started');
      for (const vm of ['vm-2', 'vm-3']) gates.get(vm)!.open();
      await h.recorder.until(() => gates.size === 4, 'fourth job started');
      gates.get('vm-4')!.open();
      for (const job of jobs) await h.recorder.state(job.id, 'succeeded');
      expect(peak).to.equal(2);
    });

    it('serializes jobs of one VM and runs jobs of different VMs in parallel', async function () {
      const gates = new Map<string, Gate>();
      const timeline: string[] = [];
      const h = harness([
        step('deliver', async (context) => {
          const label = context.job.input.label as string;
          timeline.push(`start ${label}`);
          const gate = new Gate();
          gates.set(label, gate);
          await gate.promise;
          timeline.push(`end ${label}`);
        }),
      ]);
      await h.runner.start();
      const submit = async (subjectKey: string, label: string): Promise<CreateJobResult> =>
        h.runner.submit({ kind: 'inject', subjectKey, input: { label } });
      const a1 = await submit('server-a', 'a1');
      const a2 = await submit('server-a', 'a2');
      const b1 = await submit('server-b', 'b1');
      await h.recorder.until(() => gates.has('a1') && gates.has('b1'), 'a1 and b1 running together');
      await turn();
      expect(gates.has('a2'), 'a2 waits for a1').to.equal(false);
      gates.get('a1')!.open();
      await h.recorder.until(() => gates.has('a2'), 'a2 started');
      gates.get('a2')!.open();
      gates.get('b1')!.open();
      for (const { job } of [a1, a2, b1]) await h.recorder.state(job.id, 'succeeded');
      expect(timeline.indexOf('start a2')).to.be.greaterThan(timeline.indexOf('end a1'));
      expect(timeline.indexOf('start b1')).to.be.lessThan(timeline.indexOf('end a1'));
    });

    it('sleeps until the next retry is due instead of polling', async function () {
      const h = harness([step('deliver', () => Promise.reject(retryable()))]);
      await h.runner.start();
      const job = await h.submit();
      await h.recorder.state(job.id, 'retry_wait');
      await h.recorder.until(() => h.clock.pendingSleeps === 1, 'the runner sleeping');
      expect(h.clock.nextWakeAt()).to.equal(NOW + 500);
      const claims = h.store.calls.claimNext;
      await h.clock.advance(400);
      await turn();
      expect(h.store.calls.claimNext, 'no claims while nothing is due').to.equal(claims);
      await h.clock.advance(100);
      await h.recorder.state(job.id, 'retry_wait', 2);
    });

    it('waits without any timer when there is nothing to do, and wakes on submit', async function () {
      const h = harness([step('resolve', succeed)]);
      await h.runner.start();
      await turn();
      expect(h.clock.pendingSleeps).to.equal(0);
      expect(h.store.calls.claimNext).to.equal(1);
      const job = await h.submit();
      await h.recorder.state(job.id, 'succeeded');
    });
  });

  describe('stop and recovery', function () {
    let dir: string;

    beforeEach(function () {
      dir = mkdtempSync(path.join(os.tmpdir(), 'vmsi-runner-'));
    });

    afterEach(function () {
      rmSync(dir, { recursive: true, force: true });
    });

    it('resumes a job a crash left running from its unfinished step, without re-running finished ones', async function () {
      const file = path.join(dir, 'jobs.sqlite');
      const runs = { resolve: 0, deliver: 0, verify: 0 };
      const crashedStore = SqliteJobStore.open({ path: file });
      const reached = new Gate();
      const before = harness(
        [
          step('resolve', () => Promise.resolve(void runs.resolve++)),
          step('deliver', () => {
            runs.deliver++;
            reached.open();
            return new Promise<void>(() => undefined); // the process dies in here
          }),
          step('verify', succeed),
        ],
        { store: crashedStore },
      );
      await before.runner.start();
      const job = await before.submit();
      await reached.promise;
      runners.splice(runners.indexOf(before.runner), 1); // a crashed runner is never stopped
      await crashedStore.close();

      const after = harness(
        [
          step('resolve', () => Promise.resolve(void runs.resolve++)),
          step('deliver', () => Promise.resolve(void runs.deliver++)),
          step('verify', () => Promise.resolve(void runs.verify++)),
        ],
        { store: SqliteJobStore.open({ path: file }) },
      );
      const left = await stored(after.store, job.id);
      expect(left.state).to.equal('running');
      expect(left.steps.map((s) => s.state)).to.deep.equal(['succeeded', 'running', 'pending']);
      await after.runner.start();
      const done = await after.recorder.state(job.id, 'succeeded');
      expect(runs).to.deep.equal({ resolve: 1, deliver: 2, verify: 1 });
      expect(done.steps.map((s) => [s.name, s.attempts])).to.deep.equal([
        ['resolve', 1],
        ['deliver', 2],
        ['verify', 1],
      ]);
      expect(done.attempt, 'claimed once, resumed once').to.equal(2);
      await after.runner.stop();
      await after.store.close();
    });

    it('resumes after the process is killed mid-step (SIGKILL): what was saved is on disk', async function () {
      this.timeout(30_000);
      const file = path.join(dir, 'jobs.sqlite');
      const { jobId, pid } = await runUntilKilled(file);
      expect(() => process.kill(pid, 0), 'the child is gone').to.throw();

      let resolveRuns = 0;
      const h = harness(
        [
          step('resolve', () => Promise.resolve(void resolveRuns++)),
          step('deliver', (context) => Promise.resolve(context.outputs.resolve ?? null)),
          step('verify', succeed),
        ],
        { store: SqliteJobStore.open({ path: file }) },
      );
      expect((await stored(h.store, jobId)).steps.map((s) => s.state)).to.deep.equal(['succeeded', 'running', 'pending']);
      await h.runner.start();
      const done = await h.recorder.state(jobId, 'succeeded');
      expect(resolveRuns).to.equal(0);
      expect(done.steps[1]).to.deep.include({ attempts: 2, output: { address: '198.51.100.7' } });
      await h.runner.stop();
      await h.store.close();
    });

    it('stop lets a running step finish within the grace period, then leaves the rest for the next start', async function () {
      const store = new InMemoryJobStore();
      const gate = new Gate();
      let verifyRuns = 0;
      const h = harness(
        [
          step('deliver', () => gate.promise),
          step('verify', () => Promise.resolve(void verifyRuns++)),
        ],
        { store },
      );
      await h.runner.start();
      const job = await h.submit();
      await h.recorder.until(() => h.clock.pendingSleeps > 0, 'deliver running');
      const stopped = h.runner.stop();
      gate.open();
      await stopped;
      const left = await stored(store, job.id);
      expect(left.state).to.equal('running');
      expect(left.steps.map((s) => s.state)).to.deep.equal(['succeeded', 'pending']);
      expect(verifyRuns).to.equal(0);

      const next = harness([step('deliver', succeed), step('verify', () => Promise.resolve(void verifyRuns++))], { store });
      await next.runner.start();
      await next.recorder.state(job.id, 'succeeded');
      expect(verifyRuns).to.equal(1);
    });

    it('stop aborts steps still running after the grace period; they run again at the next start', async function () {
      const store = new InMemoryJobStore();
      const reasons: unknown[] = [];
      const h = harness(
        [
          step('deliver', (context) => {
            return new Promise<void>((resolve) => context.signal.addEventListener('abort', () => (reasons.push(context.signal.reason), resolve())));
          }),
        ],
        { store },
      );
      await h.runner.start();
      const job = await h.submit();
      await h.recorder.until(() => h.clock.pendingSleeps > 0, 'deliver running');
      const stopped = h.runner.stop();
      await h.recorder.until(() => h.clock.pendingSleeps === 2, 'grace timer set');
      await h.clock.advance(STOP_GRACE_MS);
      await stopped;
      expect(reasons).to.have.length(1);
      const left = await stored(store, job.id);
      expect(left.state).to.equal('running');
      expect(left.steps[0]).to.include({ state: 'running', attempts: 1 });

      const next = harness([step('deliver', succeed)], { store });
      await next.runner.start();
      const done = await next.recorder.state(job.id, 'succeeded');
      expect(done.steps[0]?.attempts).to.equal(2);
    });

    it('rejects step definitions with duplicate names or invalid policies', function () {
      const store = new InMemoryJobStore();
      const base = { store, clock: new ManualClock(NOW), logger: createTestLogger(), concurrency: 1, stopGraceMs: 0 };
      expect(() => new JobRunner({ ...base, steps: { inject: [step('a', succeed), step('a', succeed)] } })).to.throw(/defined twice/);
      expect(() => new JobRunner({ ...base, steps: { inject: [step('a', succeed, { ...POLICY, attemptTimeoutMs: -1 })] } })).to.throw(/Policy of step a/);
      expect(() => new JobRunner({ ...base, concurrency: 0, steps: {} })).to.throw(/concurrency/);
    });
  });
});
