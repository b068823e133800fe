import type { Command } from 'commander';
import type { OrchestrationPlan } from '../../../orchestrator/orchestrator-service.js';
import { apiClientFor } from '../../api-client.js';
import { deployDescriptor } from '../deploy/deploy-command.js';
import { readDescriptorFile } from '../descriptor-file.js';
import { addFollowOptions, type FollowOptions } from '../deployment-follow.js';

interface ApplyOptions extends FollowOptions {
  dryRun?: boolean;
}

async function printPlan(program: Command, file: string, options: ApplyOptions): Promise<void> {
  const body = await readDescriptorFile(file);
  const client = await apiClientFor(program, options);
  const plan = await client.request<OrchestrationPlan>('POST', '/v1/orchestrator/plans', body);
  process.stdout.write(options.json ? `${JSON.stringify(plan)}\n` : plan.text.endsWith('\n') ? plan.text : `${plan.text}\n`);
}

export function registerApplyCommand(program: Command, group: Command): void {
  addFollowOptions(
    group
      .command('apply <file>')
      .description('Converge a service to the descriptor, applying only what differs')
      .option('--dry-run', 'print the plan (objects with YAML diffs, VNF changes); change nothing'),
  ).action((file: string, options: ApplyOptions) => (options.dryRun ? printPlan(program, file, options) : deployDescriptor(program, file, options)));
}
