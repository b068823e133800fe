import { pause, type Clock } from '../clock.js';
import { AppError, toAppError } from '../errors.js';
import { canonicalIp } from '../network-address.js';
import { OPENSTACK_ERROR_CODES, withMessage } from './openstack-errors.js';

/**
 * Port: what the core needs to know about a VM from the cloud. Tacker never reports a VM's
 * address, so this is where the mesh address comes from.
 */

export interface ServerAddress {
  /** The network's name, as Nova groups `addresses` by it. */
  network: string;
  address: string;
  version: 4 | 6;
  type: 'fixed' | 'floating';
}

export interface ServerInfo {
  id: string;
  name: string;
  /** Nova's status: ACTIVE, BUILD, ERROR, SHUTOFF, DELETED, UNKNOWN (a cell is down), … */
  status: string;
  addresses: ServerAddress[];
  metadata: Record<string, string>;
  keyName?: string;
  /** Nova's fault message for a server in ERROR. */
  fault?: string;
}

export interface ServerDirectory {
  /** Undefined when the server does not exist (Nova answers 404). */
  getServer(serverId: string, options?: { signal?: AbortSignal }): Promise<ServerInfo | undefined>;
}

export interface AddressPreference {
  network?: string;
  type?: 'fixed' | 'floating';
  ipVersion?: 4 | 6;
}

/**
 * The address the mesh uses for a server. Without a network, the server's addresses must all be on
 * one network: picking among several would guess, and a wrong ISTIO_SVC_IP fails far from here.
 * Within the candidates, fixed comes before floating (a floating IP is NAT in front of the VM and
 * never on its interface) and IPv4 before IPv6, unless the preference says otherwise.
 */
export function chooseAddress(server: ServerInfo, preference: AddressPreference): string {
  if (server.addresses.length === 0) {
    throw new AppError(OPENSTACK_ERROR_CODES.addressUnavailable, `Server ${describeServer(server)} has no addresses yet.`, {
      retryable: true,
      details: { serverId: server.id, status: server.status },
    });
  }
  const candidates = server.addresses.filter((address) => matches(address, preference));
  const networks = new Set(candidates.map((address) => address.network));
  if (candidates.length === 0 || networks.size > 1) throw noChoiceError(server, preference, networks.size);
  const [best] = [...candidates].sort(byPreference);
  return canonicalIp((best as ServerAddress).address);
}

function matches(address: ServerAddress, preference: AddressPreference): boolean {
  if (preference.network !== undefined && address.network !== preference.network) return false;
  if (preference.type !== undefined && address.type !== preference.type) return false;
  return preference.ipVersion === undefined || address.version === preference.ipVersion;
}

function byPreference(a: ServerAddress, b: ServerAddress): number {
  return Number(a.type === 'floating') - Number(b.type === 'floating') || a.version - b.version;
}

function noChoiceError(server: ServerInfo, preference: AddressPreference, networks: number): AppError {
  const wanted = describePreference(preference);
  const problem = networks > 1 ? `has ${wanted} on ${networks} networks; name the network to use` : `has no ${wanted}`;
  return new AppError(OPENSTACK_ERROR_CODES.addressUnavailable, `Server ${describeServer(server)} ${problem}. It has: ${describeAddresses(server.addresses)}.`, {
    details: { serverId: server.id, preference: { ...preference }, available: server.addresses.map((address) => ({ ...address })) },
  });
}

function describeServer(server: ServerInfo): string {
  return server.name === '' ? server.id : `${server.name} (${server.id})`;
}

function describePreference(preference: AddressPreference): string {
  const type = preference.type === undefined ? '' : `${preference.type} `;
  const version = preference.ipVersion === undefined ? '' : `IPv${preference.ipVersion} `;
  const network = preference.network === undefined ? '' : ` on network ${preference.network}`;
  return `${type}${version}addresses${network}`;
}

/** `mgmt: 10.0.0.5 (fixed), 2001:db8::5 (fixed); public: 203.0.113.7 (floating)` */
function describeAddresses(addresses: ServerAddress[]): string {
  const byNetwork = new Map<string, string[]>();
  for (const address of addresses) {
    const list = byNetwork.get(address.network) ?? [];
    list.push(`${address.address} (${address.type})`);
    byNetwork.set(address.network, list);
  }
  return [...byNetwork.entries()].map(([network, list]) => `${network}: ${list.join(', ')}`).join('; ');
}

/** Capped exponential polling, named as Temporal names its RetryPolicy fields. */
export interface PollPolicy {
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs: number;
}

/** A VM leaves BUILD in tens of seconds to a few minutes; polling every 15 s at most keeps Nova's load low and the wait short. */
export const DEFAULT_ACTIVE_POLL_POLICY: PollPolicy = { initialIntervalMs: 2_000, backoffCoefficient: 1.5, maximumIntervalMs: 15_000 };

export interface WaitUntilActiveOptions {
  /** Absolute time on `clock` (epoch milliseconds) after which no poll starts. */
  deadlineMs: number;
  clock: Clock;
  signal?: AbortSignal;
  poll?: Partial<PollPolicy>;
}

/** Statuses from which a server never becomes ACTIVE by itself. */
const GONE_STATUSES = new Set(['DELETED', 'SOFT_DELETED']);

type PollOutcome = { kind: 'active'; server: ServerInfo } | { kind: 'waiting'; status?: string; error?: AppError };

/**
 * Polls until the server is ACTIVE. ERROR, DELETED or a 404 end the wait at once (not retryable);
 * any other status (BUILD, REBOOT, UNKNOWN while a cell is down, …) and retryable failures to ask
 * are waited out until the deadline, which ends it retryable.
 */
export async function waitUntilActive(directory: ServerDirectory, serverId: string, options: WaitUntilActiveOptions): Promise<ServerInfo> {
  const policy = { ...DEFAULT_ACTIVE_POLL_POLICY, ...options.poll };
  for (let polls = 1; ; polls += 1) {
    throwIfAborted(options.signal, serverId);
    const outcome = await pollOnce(directory, serverId, options.signal);
    if (outcome.kind === 'active') return outcome.server;
    const remainingMs = options.deadlineMs - options.clock.now();
    if (remainingMs <= 0) throw notReadyError(serverId, outcome, polls);
    const intervalMs = Math.min(policy.initialIntervalMs * policy.backoffCoefficient ** (polls - 1), policy.maximumIntervalMs);
    await pause(options.clock, Math.min(intervalMs, remainingMs), options.signal);
  }
}

async function pollOnce(directory: ServerDirectory, serverId: string, signal: AbortSignal | undefined): Promise<PollOutcome> {
  let server: ServerInfo | undefined;
  try {
    server = await directory.getServer(serverId, signal === undefined ? {} : { signal });
  } catch (error) {
    throwIfAborted(signal, serverId);
    const failure = toAppError(error);
    if (!failure.retryable) throw failure;
    return { kind: 'waiting', error: failure };
  }
  return classify(server, serverId);
}

function classify(server: ServerInfo | undefined, serverId: string): PollOutcome {
  if (server === undefined || GONE_STATUSES.has(server.status)) {
    throw new AppError(OPENSTACK_ERROR_CODES.serverGone, `Server ${serverId} does not exist${server === undefined ? '' : ` (${server.status})`}.`, {
      details: { serverId, ...(server === undefined ? {} : { status: server.status }) },
    });
  }
  if (server.status === 'ERROR') {
    throw new AppError(OPENSTACK_ERROR_CODES.serverFailed, `Server ${describeServer(server)} is in ERROR${withMessage(server.fault)}`, {
      details: { serverId, status: server.status, ...(server.fault === undefined ? {} : { fault: server.fault }) },
    });
  }
  return server.status === 'ACTIVE' ? { kind: 'active', server } : { kind: 'waiting', status: server.status };
}

function notReadyError(serverId: string, outcome: Exclude<PollOutcome, { kind: 'active' }>, polls: number): AppError {
  const state = outcome.status === undefined ? `could not be read (${outcome.error?.message ?? 'no answer'})` : `is still ${outcome.status}`;
  return new AppError(OPENSTACK_ERROR_CODES.serverNotReady, `Server ${serverId} ${state} at the deadline for becoming ACTIVE.`, {
    retryable: true,
    details: { serverId, polls, ...(outcome.status === undefined ? {} : { status: outcome.status }) },
    ...(outcome.error === undefined ? {} : { cause: outcome.error }),
  });
}

function throwIfAborted(signal: AbortSignal | undefined, serverId: string): void {
  if (signal?.aborted !== true) return;
  const reason: unknown = signal.reason;
  if (reason instanceof AppError) throw reason;
  throw new AppError(OPENSTACK_ERROR_CODES.serviceUnavailable, `Waiting for server ${serverId} to become ACTIVE was cancelled.`, {
    retryable: true,
    details: { serverId, cancelled: true },
    cause: reason,
  });
}
