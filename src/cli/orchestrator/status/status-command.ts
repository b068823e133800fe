import type { Command } from 'commander';
import type { ServiceStatus } from '../../../orchestrator/orchestrator-service.js';
import { addApiOptions, apiClientFor, type ApiClientOptions } from '../../api-client.js';
import { formatServiceStatus } from '../deployment-format.js';

export function registerStatusCommand(program: Command, group: Command): void {
  addApiOptions(
    group
      .command('status <name>')
      .description('Show a service: last job, readiness of each microservice, connection objects')
      .option('--json', 'machine-readable output'),
  ).action(async (name: string, options: ApiClientOptions & { json?: boolean }) => {
    const client = await apiClientFor(program, options);
    const status = await client.request<ServiceStatus>('GET', `/v1/orchestrator/services/${encodeURIComponent(name)}`);
    process.stdout.write(options.json ? `${JSON.stringify(status)}\n` : formatServiceStatus(status));
  });
}
