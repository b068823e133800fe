import type { Config } from '../../config.js';
import type { Logger } from '../../log.js';
import { openstackClients } from '../../composition/wiring-parts.js';
import { TackerClient } from '../../tacker/tacker-client.js';
import { check, failedCheck, type CheckResult } from './doctor-check.js';
import type { ServerDate } from './clock-skew-check.js';

type OpenStackConfig = NonNullable<Config['openstack']>;
type Clients = Awaited<ReturnType<typeof openstackClients>>;

export interface OpenStackFindings {
  checks: CheckResult[];
  dates: ServerDate[];
}

const KEYSTONE = 'Keystone: authenticates';
const TACKER = 'Tacker: reachable and authorised';
const NOVA = 'Nova: reachable and authorised';

function notConfigured(): OpenStackFindings {
  const detail = 'no openstack section in the config';
  return {
    checks: [KEYSTONE, TACKER, NOVA].map((title, index) => check(['keystone', 'tacker', 'nova'][index] as string, title, { status: 'info', detail })),
    dates: [],
  };
}

/** Keystone's Date header, read with the same transport (and CA bundle) as every OpenStack call. */
async function keystoneDate(clients: Clients, openstack: OpenStackConfig, clock: () => number): Promise<ServerDate | undefined> {
  const sentAtMs = clock();
  const reply = await clients.keystone.transport.send({ method: 'GET', url: new URL(openstack.authUrl), headers: { accept: 'application/json' }, timeoutMs: 10_000 }).catch(() => undefined);
  const header = reply?.headers.get('date');
  return header === null || header === undefined ? undefined : { server: 'Keystone', date: header, sentAtMs, receivedAtMs: clock() };
}

async function tackerCheck(config: Config, clients: Clients): Promise<CheckResult> {
  if (config.tacker === undefined) return check('tacker', TACKER, { status: 'info', detail: 'no tacker section in the config' });
  const apiVersion = config.tacker.apiVersions.includes('v2') ? 'v2' : 'v1';
  try {
    const baseUrl = await clients.keystone.endpoint('nfv-orchestration');
    const tacker = new TackerClient({ baseUrl, apiVersion, token: async () => (await clients.keystone.token()).authToken, requestTimeoutMs: 15_000 });
    const subscriptions = await tacker.listSubscriptions();
    return check('tacker', TACKER, { status: 'pass', detail: `${baseUrl} answers /vnflcm/${apiVersion}/subscriptions (${subscriptions.length} subscriptions)` });
  } catch (error) {
    return failedCheck('tacker', TACKER, error, 'The catalog needs an nfv-orchestration endpoint this host reaches, and the credential a role Tacker accepts (admin, or the project member its policy allows).');
  }
}

async function novaCheck(clients: Clients): Promise<CheckResult> {
  try {
    const reply = await clients.session.getJson('compute', '/servers', { query: { limit: '1' } });
    if (reply.status !== 200) return check('nova', NOVA, { status: 'fail', detail: `Nova answered GET /servers with HTTP ${reply.status}`, hint: 'Check the compute endpoint of the catalog (or openstack.endpointOverrides.compute).' });
    return check('nova', NOVA, { status: 'pass', detail: `${await clients.keystone.endpoint('compute')} lists servers` });
  } catch (error) {
    return failedCheck('nova', NOVA, error, "The credential's project must be the one Tacker creates the VMs in, with a role that may read servers.");
  }
}

/** Keystone, then Tacker and Nova through its catalog: the calls the service itself makes first. */
export async function openStackChecks(config: Config, logger: Logger, clock: () => number): Promise<OpenStackFindings> {
  const openstack = config.openstack;
  if (openstack === undefined) return notConfigured();
  let clients: Clients;
  try {
    clients = await openstackClients(openstack, logger);
    const token = await clients.keystone.token();
    const keystone = check('keystone', KEYSTONE, { status: 'pass', detail: `${openstack.authUrl} issued a token for project ${token.projectId ?? 'unscoped'}` });
    const dates = await keystoneDate(clients, openstack, clock);
    return { checks: [keystone, await tackerCheck(config, clients), await novaCheck(clients)], dates: dates === undefined ? [] : [dates] };
  } catch (error) {
    const skipped = { status: 'info' as const, detail: 'not checked: Keystone did not authenticate' };
    return {
      checks: [
        failedCheck('keystone', KEYSTONE, error, 'Check openstack.authUrl, the credential file and its id/name; the CA bundle if Keystone uses a private CA.'),
        check('tacker', TACKER, skipped),
        check('nova', NOVA, skipped),
      ],
      dates: [],
    };
  }
}
