import type { Command } from 'commander';
import type { JobView } from '../../injection/job-view.js';
import { addApiOptions, apiClientFor, type ApiClientOptions } from '../api-client.js';
import { formatJob, formatJobLine } from '../job-format.js';

interface OutputOptions extends ApiClientOptions {
  json?: boolean;
}

function print(value: unknown, human: string, options: OutputOptions): void {
  process.stdout.write(options.json ? `${JSON.stringify(value)}\n` : human);
}

function registerOperatorAction(program: Command, action: 'retry' | 'abandon' | 'reonboard', description: string): void {
  addApiOptions(program.command(`${action} <id>`).description(description).option('--json', 'machine-readable output')).action(
    async (id: string, options: OutputOptions) => {
      const client = await apiClientFor(program, options);
      const job = await client.request<JobView>('POST', `/v1/injections/${encodeURIComponent(id)}/${action}`);
      print(job, formatJob(job, { logLines: 0 }), options);
    },
  );
}

export function registerJobCommands(program: Command): void {
  addApiOptions(
    program
      .command('jobs')
      .description('List injection and removal jobs, newest first')
      .option('--state <state>', 'pending, running, retry_wait, succeeded, failed_temp or failed')
      .option('--kind <kind>', 'inject or remove')
      .option('--json', 'machine-readable output'),
  ).action(async (options: OutputOptions & { state?: string; kind?: string }) => {
    const client = await apiClientFor(program, options);
    const query = new URLSearchParams({ ...(options.state ? { state: options.state } : {}), ...(options.kind ? { kind: options.kind } : {}) });
    const { items } = await client.request<{ items: JobView[] }>('GET', `/v1/injections${query.size > 0 ? `?${query.toString()}` : ''}`);
    print(items, items.map((job) => `${formatJobLine(job)}\n`).join('') || 'no jobs\n', options);
  });
  addApiOptions(program.command('status <id>').description('Show one job: every step with timings and attempts, and its log tail').option('--json', 'machine-readable output')).action(
    async (id: string, options: OutputOptions) => {
      const client = await apiClientFor(program, options);
      const job = await client.request<JobView>('GET', `/v1/injections/${encodeURIComponent(id)}`);
      print(job, formatJob(job), options);
    },
  );
  registerOperatorAction(program, 'retry', 'Retry a failed_temp job from its failed step');
  registerOperatorAction(program, 'reonboard', 'Fresh token and agent restart for the VM of an injection job (certificates expired while it was off)');
  registerOperatorAction(program, 'abandon', 'Give up a failed_temp job (it becomes failed)');
}
