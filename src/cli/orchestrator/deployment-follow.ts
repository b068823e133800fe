import type { Command } from 'commander';
import { AppError } from '../../errors.js';
import type { DeploymentView } from '../../orchestrator/orchestrator-service.js';
import { addApiOptions, type ApiClient, type ApiClientOptions } from '../api-client.js';
import { formatDeployment, formatDeploymentStep } from './deployment-format.js';

export interface FollowOptions extends ApiClientOptions {
  wait?: boolean;
  json?: boolean;
  timeout: string;
}

/** failed_temp ends the wait too: the job then waits for an operator, not for time. */
const FINAL_STATES = new Set(['succeeded', 'failed', 'failed_temp']);
const POLL_INTERVAL_MS = 1_000;

export function addFollowOptions(command: Command): Command {
  return addApiOptions(
    command
      .option('--wait', 'follow the job step by step; exit non-zero unless it succeeds')
      .option('--json', 'machine-readable output')
      .option('--timeout <seconds>', 'how long --wait waits', '3600'),
  );
}

/** Prints each step the first time it is seen in a new state or attempt, and new log lines. */
function progressPrinter(): (deployment: DeploymentView) => void {
  const seen = new Map<string, string>();
  let logCount = 0;
  return (deployment) => {
    for (const step of deployment.steps) {
      const key = `${step.state}/${step.attempts}`;
      if (step.state !== 'pending' && seen.get(step.name) !== key) process.stdout.write(`${formatDeploymentStep(step)}\n`);
      seen.set(step.name, key);
    }
    const log = deployment.log ?? [];
    for (const line of log.slice(Math.min(logCount, log.length))) process.stdout.write(`    ${line}\n`);
    logCount = log.length;
  };
}

async function waitForDeployment(client: ApiClient, id: string, options: { timeoutMs: number; onProgress?: (deployment: DeploymentView) => void }): Promise<DeploymentView> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const deployment = await client.request<DeploymentView>('GET', `/v1/orchestrator/deployments/${encodeURIComponent(id)}`);
    options.onProgress?.(deployment);
    if (FINAL_STATES.has(deployment.state)) return deployment;
    if (Date.now() > deadline) throw new AppError('STEP_TIMEOUT', `Deployment job ${id} did not finish within the --timeout; it goes on in the service.`, { retryable: true });
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

/** What deploy, apply and teardown print for the job the service accepted; with --wait, follows it to its end. */
export async function followDeployment(client: ApiClient, accepted: DeploymentView, options: FollowOptions): Promise<void> {
  if (!options.wait) {
    process.stdout.write(options.json ? `${JSON.stringify(accepted)}\n` : `accepted: ${accepted.id} (${accepted.kind} ${accepted.service}, ${accepted.state})\n`);
    return;
  }
  if (!options.json) process.stdout.write(`accepted: ${accepted.id} (${accepted.kind} ${accepted.service}); waiting\n`);
  const timeoutMs = Number.parseInt(options.timeout, 10) * 1000;
  const final = await waitForDeployment(client, accepted.id, { timeoutMs, ...(options.json ? {} : { onProgress: progressPrinter() }) });
  process.stdout.write(options.json ? `${JSON.stringify(final)}\n` : `\n${formatDeployment(final)}`);
  if (final.state === 'succeeded') return;
  const reason = final.lastError === null ? final.stateReason : `${final.lastError.code}: ${final.lastError.message}`;
  process.stderr.write(`vmsi: ${final.kind} of ${final.service} ${final.state}: ${reason}\n`);
  process.exitCode = 1;
}
