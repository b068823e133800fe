import { AppError } from '../errors.js';
import type { ApiClient } from './api-client.js';

/** What following needs of a job view: injection jobs and orchestrator deployments alike. */
export interface FollowedStep {
  name: string;
  state: string;
  attempts: number;
}

export interface FollowedJob<S extends FollowedStep> {
  state: string;
  steps: S[];
  log?: string[];
}

const FINAL_STATES = new Set(['succeeded', 'failed', 'failed_temp']);
const POLL_INTERVAL_MS = 1_000;

/** Prints each step the first time it is seen in a new state or attempt, and new log lines. */
export function progressPrinter<S extends FollowedStep>(formatStep: (step: S) => string): (job: FollowedJob<S>) => void {
  const seen = new Map<string, string>();
  let logCount = 0;
  return (job) => {
    for (const step of job.steps) {
      const key = `${step.state}/${step.attempts}`;
      if (step.state !== 'pending' && seen.get(step.name) !== key) process.stdout.write(`${formatStep(step)}\n`);
      seen.set(step.name, key);
    }
    const log = job.log ?? [];
    for (const line of log.slice(Math.min(logCount, log.length))) process.stdout.write(`    ${line}\n`);
    logCount = log.length;
  };
}

/** Polls `path` until the job is final or failed_temp; `what` names it in the timeout message ("Job 123"). */
export async function waitForFinalState<T extends { state: string }>(client: ApiClient, path: string, options: { what: string; timeoutMs: number; onProgress?: (job: T) => void }): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const job = await client.request<T>('GET', path);
    options.onProgress?.(job);
    if (FINAL_STATES.has(job.state)) return job;
    if (Date.now() > deadline) throw new AppError('STEP_TIMEOUT', `${options.what} did not finish within the --timeout; it goes on in the service.`, { retryable: true });
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}
