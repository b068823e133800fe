import { expect } from 'chai';
import { AppError } from '../errors.js';
import { JOB_STATES, isLegalTransition, newJob, nextStepIndex, skipPendingSteps, stepOutputs, toJobError, transition, updateStep, type Job, type JobState } from './job.js';

const NOW = Date.UTC(2026, 4, 1);

function job(state: JobState = 'pending'): Job {
  return { ...newJob({ kind: 'inject', subjectKey: 'server-1', input: { vdu: 'VDU1' }, stepNames: ['resolve', 'deliver'], now: NOW }), state };
}

describe('job model', function () {
  it('creates a pending job with a v4 uuid, one pending step per name and version 1', function () {
    const created = job();
    expect(created.id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(created).to.include({ state: 'pending', version: 1, attempt: 0, nextAttemptAt: null, idempotencyKey: null, createdAt: NOW });
    expect(created.steps.map((step) => [step.name, step.state, step.attempts])).to.deep.equal([
      ['resolve', 'pending', 0],
      ['deliver', 'pending', 0],
    ]);
  });

  it('allows exactly the moves of the state table', function () {
    const legal = new Set([
      'pending>running',
      'running>retry_wait',
      'running>succeeded',
      'running>failed_temp',
      'running>failed',
      'retry_wait>running',
      'failed_temp>pending',
      'failed_temp>failed',
    ]);
    for (const from of JOB_STATES) {
      for (const to of JOB_STATES) {
        expect(isLegalTransition(from, to), `${from} → ${to}`).to.equal(legal.has(`${from}>${to}`));
      }
    }
  });

  it('throws CONFLICT on an illegal move, e.g. retrying a job that succeeded', function () {
    const done = job('succeeded');
    expect(() => transition(done, 'pending', 'retried by operator', { now: NOW }))
      .to.throw(AppError)
      .with.property('code', 'CONFLICT');
  });

  it('stamps the time and reason, sets finishedAt on final states and clears nextAttemptAt outside retry_wait', function () {
    const waiting = { ...job('retry_wait'), nextAttemptAt: NOW + 5_000 };
    const running = transition(waiting, 'running', 'retry due', { now: NOW + 5_000 });
    expect(running).to.include({ state: 'running', stateReason: 'retry due', updatedAt: NOW + 5_000, nextAttemptAt: null, finishedAt: null });
    const failed = transition(running, 'failed', 'step deliver failed', { now: NOW + 6_000 });
    expect(failed).to.include({ state: 'failed', finishedAt: NOW + 6_000 });
    expect(waiting.state, 'the input is not changed').to.equal('retry_wait');
  });

  it('logs each transition with the job fields', function () {
    const entries: Array<[string, Record<string, unknown>]> = [];
    const logger = { info: (message: string, fields: Record<string, unknown>) => entries.push([message, fields]) };
    transition(job(), 'running', 'claimed', { now: NOW, logger: logger as never });
    expect(entries).to.have.length(1);
    expect(entries[0]?.[1]).to.include({ from: 'pending', to: 'running', reason: 'claimed', subjectKey: 'server-1' });
  });

  it('finds the next step to run, skips pending steps and collects outputs of succeeded steps', function () {
    let current = updateStep(job(), 0, { state: 'succeeded', output: { serverId: 'server-1' } });
    expect(nextStepIndex(current)).to.equal(1);
    expect(stepOutputs(current)).to.deep.equal({ resolve: { serverId: 'server-1' } });
    current = skipPendingSteps(current);
    expect(current.steps.map((step) => step.state)).to.deep.equal(['succeeded', 'skipped']);
    expect(nextStepIndex(current)).to.equal(-1);
  });

  it('keeps code and retryability of an error and redacts its message', function () {
    const error = new AppError('SSH_CONNECT_FAILED', 'refused with eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl', { retryable: true });
    expect(toJobError(error)).to.deep.equal({ code: 'SSH_CONNECT_FAILED', message: 'refused with [REDACTED]', retryable: true });
    expect(toJobError(new Error('boom'))).to.include({ code: 'INTERNAL', retryable: false });
  });
});
