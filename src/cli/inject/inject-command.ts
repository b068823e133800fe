import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { AppError } from '../../errors.js';
import type { JobView } from '../../injection/job-view.js';
import { addApiOptions, apiClientFor, type ApiClient, type ApiClientOptions } from '../api-client.js';
import { formatJob, formatStep } from '../job-format.js';

interface SubmitOptions extends ApiClientOptions {
  spec: string;
  wait?: boolean;
  json?: boolean;
  idempotencyKey?: string;
  timeout: string;
}

const FINAL_STATES = new Set(['succeeded', 'failed', 'failed_temp']);
const POLL_INTERVAL_MS = 1_000;

async function readSpecText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    throw new AppError('INVALID_REQUEST', `Spec file ${file} cannot be read.`, { cause });
  }
}

/** Prints each step the first time it is seen in a new state or attempt, and new log lines. */
function progressPrinter(): (job: JobView) => void {
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

export async function waitForJob(client: ApiClient, id: string, options: { timeoutMs: number; onProgress?: (job: JobView) => void }): Promise<JobView> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const job = await client.request<JobView>('GET', `/v1/injections/${id}`);
    options.onProgress?.(job);
    if (FINAL_STATES.has(job.state)) return job;
    if (Date.now() > deadline) throw new AppError('STEP_TIMEOUT', `Job ${id} did not finish within the --timeout; it goes on in the service.`, { retryable: true });
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

async function submit(program: Command, route: string, options: SubmitOptions): Promise<void> {
  const client = await apiClientFor(program, options);
  const headers: Record<string, string> = options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {};
  const job = await client.request<JobView>('POST', route, { contentType: 'application/yaml', text: await readSpecText(options.spec) }, headers);
  if (!options.wait) {
    process.stdout.write(options.json ? `${JSON.stringify(job)}\n` : `accepted: ${job.id} (${job.kind}, ${job.state})\n`);
    return;
  }
  if (!options.json) process.stdout.write(`accepted: ${job.id}; waiting\n`);
  const timeoutMs = Number.parseInt(options.timeout, 10) * 1000;
  const final = await waitForJob(client, job.id, { timeoutMs, ...(options.json ? {} : { onProgress: progressPrinter() }) });
  process.stdout.write(options.json ? `${JSON.stringify(final)}\n` : `\n${formatJob(final, { logLines: 0 })}`);
  if (final.state !== 'succeeded') process.exitCode = 1;
}

function registerSubmit(program: Command, name: 'inject' | 'remove', route: string, description: string): void {
  addApiOptions(
    program
      .command(name)
      .description(description)
      .requiredOption('--spec <file>', 'injection spec, YAML or JSON')
      .option('--wait', 'follow the job step by step; exit non-zero unless it succeeds')
      .option('--json', 'machine-readable output')
      .option('--idempotency-key <key>', 'submitting again with the same key returns the same job')
      .option('--timeout <seconds>', 'how long --wait waits', '3600'),
  ).action((options: SubmitOptions) => submit(program, route, options));
}

export function registerInjectCommands(program: Command): void {
  registerSubmit(program, 'inject', '/v1/injections', 'Inject one running VM through the service (a durable job)');
  registerSubmit(program, 'remove', '/v1/removals', 'Take the sidecar off a VM and deregister it (a durable job)');
}
