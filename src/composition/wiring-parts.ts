import { readFile } from 'node:fs/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { InjectionService } from '../injection/injection-service.js';
import type { TackerPlugin } from '../injection/tacker-plugin.js';
import { systemClock } from '../clock.js';
import { registerSecret, type Logger } from '../log.js';
import type { createOpenStackClients } from '../openstack/openstack-config.js';


/** What more than one capability of the composition root needs: secret files, the kubeconfig, the OpenStack clients. */

export async function readSecretFile(file: string, what: string): Promise<string> {
  try {
    const value = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
    registerSecret(value);
    return value;
  } catch (cause) {
    throw new AppError('INVALID_CONFIG', `${what} file ${file} cannot be read.`, { cause });
  }
}

/**
 * One KubeConfig for every Kubernetes adapter. The client library is loaded only when the config
 * asks for it: it costs about half a second at every start of the CLI otherwise.
 */
export async function kubeConfigOf(config: Config): Promise<KubeConfig> {
  const kubernetes = config.kubernetes;
  if (kubernetes === undefined) throw new AppError('INVALID_CONFIG', 'The kubernetes section is missing.');
  const { loadKubeConfig } = await import('../mesh/kubernetes/kube-config.js');
  if (kubernetes.inCluster) return loadKubeConfig({ kind: 'in-cluster' });
  return loadKubeConfig({ kind: 'kubeconfig', file: kubernetes.kubeconfig ?? '', ...(kubernetes.context === undefined ? {} : { context: kubernetes.context }) });
}

/** `{ key: value }` when the value is there, `{}` otherwise: optional fields under exactOptionalPropertyTypes. */
export function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

export function notReady(what: string): AppError {
  return new AppError('INTERNAL', `The ${what} is not ready yet.`, { retryable: true });
}

export function withoutTrailingLineBreak(bytes: Buffer): Buffer {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  return bytes.subarray(0, end);
}

/** The webhook HMAC key: bytes, not text; only a trailing line break (an editor's) is dropped. */
export async function readHmacSecret(file: string): Promise<Buffer> {
  let raw: Buffer;
  try {
    raw = await readFile(file);
  } catch (cause) {
    throw new AppError('INVALID_CONFIG', `Webhook secret file ${file} cannot be read.`, { cause });
  }
  const secret = withoutTrailingLineBreak(raw);
  if (secret.length < 16) throw new AppError('INVALID_CONFIG', `Webhook secret in ${file} is shorter than 16 bytes.`);
  registerSecret(secret.toString('utf8'));
  return secret;
}

/** Parts made after the runner they run in; jobs resumed at start may reach them only once they exist. */
export interface LateParts {
  service?: InjectionService;
  plugin?: TackerPlugin;
}

export type OpenStackClients = ReturnType<typeof createOpenStackClients>;

export async function openstackClients(openstack: NonNullable<Config['openstack']>, logger: Logger): Promise<OpenStackClients> {
  const { createOpenStackClients } = await import('../openstack/openstack-config.js');
  const secret = await readSecretFile(openstack.auth.method === 'password' ? openstack.auth.passwordFile : openstack.auth.secretFile, 'OpenStack credential');
  const caBundle = openstack.caBundleFile === undefined ? undefined : await readFile(openstack.caBundleFile, 'utf8');
  return createOpenStackClients(openstack, { secret, ...(caBundle === undefined ? {} : { caBundle }) }, { logger, clock: systemClock });
}
