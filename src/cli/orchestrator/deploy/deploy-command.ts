import type { Command } from 'commander';
import type { DeploymentView } from '../../../orchestrator/orchestrator-service.js';
import { apiClientFor } from '../../api-client.js';
import { readDescriptorFile } from '../descriptor-file.js';
import { addFollowOptions, followDeployment, type FollowOptions } from '../deployment-follow.js';

/** Shared with apply: a deployment converges, so deploying a running service applies only what changed. */
export async function deployDescriptor(program: Command, file: string, options: FollowOptions): Promise<void> {
  const body = await readDescriptorFile(file);
  const client = await apiClientFor(program, options);
  const accepted = await client.request<DeploymentView>('POST', '/v1/orchestrator/deployments', body);
  await followDeployment(client, accepted, options);
}

export function registerDeployCommand(program: Command, group: Command): void {
  addFollowOptions(group.command('deploy <file>').description('Deploy a service descriptor, YAML or JSON (a durable job)')).action((file: string, options: FollowOptions) =>
    deployDescriptor(program, file, options),
  );
}
