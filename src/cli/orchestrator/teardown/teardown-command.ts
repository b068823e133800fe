import type { Command } from 'commander';
import type { DeploymentView } from '../../../orchestrator/orchestrator-service.js';
import { apiClientFor } from '../../api-client.js';
import { addFollowOptions, followDeployment, type FollowOptions } from '../deployment-follow.js';

export function registerTeardownCommand(program: Command, group: Command): void {
  addFollowOptions(group.command('teardown <name>').description("Remove everything the service's deployments created (a durable job)")).action(
    async (name: string, options: FollowOptions) => {
      const client = await apiClientFor(program, options);
      const accepted = await client.request<DeploymentView>('DELETE', `/v1/orchestrator/services/${encodeURIComponent(name)}`);
      await followDeployment(client, accepted, options);
    },
  );
}
