import type { Command } from 'commander';
import type { DeploymentView } from '../../orchestrator/orchestrator-service.js';
import { addApiOptions, type ApiClient, type ApiClientOptions } from '../api-client.js';
import { formatDeployment, formatDeploymentStep } from './deployment-format.js';
import { progressPrinter, waitForFinalState } from '../job-follow.js';

export interface FollowOptions extends ApiClientOptions {
  wait?: boolean;
  json?: boolean;
  timeout: string;
}

/** failed_temp ends the wait too: the job then waits for an operator, not for time. */

export function addFollowOptions(command: Command): Command {
  return addApiOptions(
    command
      .option('--wait', 'follow the job step by step; exit non-zero unless it succeeds')
      .option('--json', 'machine-readable output')
      .option('--timeout <seconds>', 'how long --wait waits', '3600'),
  );
}

/** What deploy, apply and teardown print for the job the service accepted; with --wait, follows it to its end. */
export async function followDeployment(client: ApiClient, accepted: DeploymentView, options: FollowOptions): Promise<void> {
  if (!options.wait) {
    process.stdout.write(options.json ? `${JSON.stringify(accepted)}\n` : `accepted: ${accepted.id} (${accepted.kind} ${accepted.service}, ${accepted.state})\n`);
    return;
  }
  if (!options.json) process.stdout.write(`accepted: ${accepted.id} (${accepted.kind} ${accepted.service}); waiting\n`);
  const timeoutMs = Number.parseInt(options.timeout, 10) * 1000;
  const final = await waitForFinalState<DeploymentView>(client, `/v1/orchestrator/deployments/${encodeURIComponent(accepted.id)}`, {
    what: `Deployment job ${accepted.id}`,
    timeoutMs,
    ...(options.json ? {} : { onProgress: progressPrinter(formatDeploymentStep) }),
  });
  process.stdout.write(options.json ? `${JSON.stringify(final)}\n` : `\n${formatDeployment(final)}`);
  if (final.state === 'succeeded') return;
  const reason = final.lastError === null ? final.stateReason : `${final.lastError.code}: ${final.lastError.message}`;
  process.stderr.write(`vmsi: ${final.kind} of ${final.service} ${final.state}: ${reason}\n`);
  process.exitCode = 1;
}
