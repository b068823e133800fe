import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { AppError } from '../../errors.js';
import type { JobView } from '../../injection/job-view.js';
import { addApiOptions, apiClientFor, type ApiClientOptions } from '../api-client.js';
import { formatJob, formatStep } from '../job-format.js';
import { progressPrinter, waitForFinalState } from '../job-follow.js';

interface SubmitOptions extends ApiClientOptions {
  spec: string;
  wait?: boolean;
  json?: boolean;
  idempotencyKey?: string;
  timeout: string;
}


async function readSpecText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    throw new AppError('INVALID_REQUEST', `Spec file ${file} cannot be read.`, { cause });
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
  const final = await waitForFinalState<JobView>(client, `/v1/injections/${job.id}`, { what: `Job ${job.id}`, timeoutMs, ...(options.json ? {} : { onProgress: progressPrinter(formatStep) }) });
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
