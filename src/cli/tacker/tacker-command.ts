import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { AppError } from '../../errors.js';
import { createLogger } from '../../log.js';
import { subscriptionAuthentication } from '../../composition/tacker-callback-credentials.js';
import { tackerClientFor } from '../../main.js';
import { buildSubscriptionRequest } from '../../tacker/subscription-request.js';
import { NOTIFICATION_PATH } from '../../api/tacker-router.js';
import { addApiOptions, apiClientFor, type ApiClientOptions } from '../api-client.js';

type ApiVersion = 'v1' | 'v2';

function apiVersionOf(value: string): ApiVersion {
  if (value !== 'v1' && value !== 'v2') throw new AppError('INVALID_REQUEST', '--api must be v1 or v2.');
  return value;
}

/** Creates the subscription, or keeps the one that already calls us back: running it twice changes nothing. */
async function subscribe(program: Command, options: { api: string; json?: boolean }): Promise<void> {
  const apiVersion = apiVersionOf(options.api);
  const config = loadConfig({ file: program.opts<{ config?: string }>().config });
  if (config.tacker?.callbackBaseUrl === undefined) throw new AppError('INVALID_CONFIG', 'Subscribing needs tacker.callbackBaseUrl: this service as Tacker reaches it.');
  const callbackUri = `${config.tacker.callbackBaseUrl.replace(/\/$/, '')}${NOTIFICATION_PATH}/${apiVersion}`;
  const logger = createLogger({ level: config.log.level });
  const client = await tackerClientFor(config, logger, apiVersion);
  const request = buildSubscriptionRequest({ apiVersion, callbackUri, auth: await subscriptionAuthentication(config, apiVersion) });
  const { subscription, created } = await client.keepOrCreateSubscription(request);
  process.stdout.write(options.json ? `${JSON.stringify({ id: subscription.id, callbackUri, created })}\n` : `${created ? 'created' : 'kept'} subscription ${subscription.id} → ${callbackUri}\n`);
}

async function reconcile(program: Command, options: ApiClientOptions & { api: string; since: string; json?: boolean }): Promise<void> {
  const client = await apiClientFor(program, options);
  const result = await client.request<{ stored: number; duplicates: number; skipped: number }>('POST', '/v1/tacker/reconcile', {
    contentType: 'application/json',
    text: JSON.stringify({ apiVersion: apiVersionOf(options.api), since: options.since }),
  });
  process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : `reconciled: ${result.stored} new, ${result.duplicates} already handled, ${result.skipped} not acted on\n`);
}

export function registerTackerCommands(program: Command): void {
  const tacker = program.command('tacker').description('Connect the service to Tacker');
  tacker
    .command('subscribe')
    .description('Create (or keep) the LCM notification subscription that calls this service back')
    .option('--api <version>', 'v2 or v1', 'v2')
    .option('--json', 'machine-readable output')
    .action((options: { api: string; json?: boolean }) => subscribe(program, options));
  addApiOptions(
    tacker
      .command('reconcile')
      .description("Create the jobs for operations completed while the service was down (Tacker does not redeliver)")
      .option('--api <version>', 'v2 or v1', 'v2')
      .option('--since <iso-time>', 'look at operations from this time on', new Date(Date.now() - 24 * 3_600_000).toISOString())
      .option('--json', 'machine-readable output'),
  ).action((options: ApiClientOptions & { api: string; since: string; json?: boolean }) => reconcile(program, options));
}
