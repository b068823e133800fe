import { z } from 'zod';
import type { Clock } from '../clock.js';
import { durationSchema, durationToMs } from '../duration.js';
import type { Logger } from '../log.js';
import { createHttpTransport } from './http-transport.js';
import { KeystoneClient, type KeystoneAuth, type KeystoneClientOptions } from './keystone-client.js';
import { NovaServerDirectory } from './nova-server-directory.js';
import { OpenStackSession } from './openstack-session.js';

/**
 * The `openstack:` section of the service config, for config.ts to embed. Secrets are named by
 * file, never written inline; the caller reads them and hands the values to `createOpenStackClients`.
 */

const domainSchema = z
  .union([z.object({ id: z.string().min(1) }).strict(), z.object({ name: z.string().min(1) }).strict()])
  .describe('A Keystone domain by id or by name, e.g. { name: Default }.');

const userSchema = z
  .union([z.object({ id: z.string().min(1) }).strict(), z.object({ name: z.string().min(1), domain: domainSchema }).strict()])
  .describe('A Keystone user by id, or by name with its domain.');

const projectSchema = z
  .union([z.object({ id: z.string().min(1) }).strict(), z.object({ name: z.string().min(1), domain: domainSchema }).strict()])
  .describe('The project the token is scoped to, by id or by name with its domain.');

const applicationCredentialSchema = z
  .object({
    method: z.literal('application_credential'),
    id: z.string().min(1).optional().describe('Application credential id; or give name and user.'),
    name: z.string().min(1).optional().describe('Application credential name; needs user.'),
    user: userSchema.optional(),
    secretFile: z.string().min(1).describe('File holding the application credential secret.'),
  })
  .strict()
  .refine((auth) => (auth.id !== undefined) !== (auth.name !== undefined && auth.user !== undefined), {
    message: 'give either id, or name and user',
  });

const passwordSchema = z
  .object({
    method: z.literal('password'),
    user: userSchema,
    passwordFile: z.string().min(1).describe("File holding the user's password."),
    project: projectSchema,
  })
  .strict();

export const openstackConfigSchema = z
  .object({
    authUrl: z.url({ protocol: /^https?$/ }).describe('Keystone v3 URL (OS_AUTH_URL), with or without /v3.'),
    auth: z
      .discriminatedUnion('method', [applicationCredentialSchema, passwordSchema])
      .describe('application_credential (preferred: scoped, revocable, no user password) or password.'),
    region: z.string().min(1).optional().describe('Region of the endpoints; required when the catalog lists several.'),
    interface: z.enum(['public', 'internal', 'admin']).default('public').describe('Which catalog endpoints to call.'),
    caBundleFile: z.string().min(1).optional().describe('PEM file of CA certificates trusted for every OpenStack endpoint, instead of the system roots.'),
    tokenRefreshMargin: durationSchema.default('5m').describe('A token is replaced this long before it expires.'),
    requestTimeout: durationSchema.default('30s').describe('Bounds one request to Keystone, Nova or Neutron.'),
    endpointOverrides: z
      .record(z.string().min(1), z.url({ protocol: /^https?$/ }))
      .default({})
      .describe('Service type → URL, replacing the catalog entry, e.g. { compute: https://nova.internal:8774/v2.1 }.'),
    serverAddress: z
      .object({
        network: z.string().min(1).optional().describe("Network whose address the mesh uses; required when VMs have several networks."),
        type: z.enum(['fixed', 'floating']).optional().describe('Default: fixed before floating.'),
        ipVersion: z.union([z.literal(4), z.literal(6)]).optional().describe('Default: IPv4 before IPv6.'),
      })
      .strict()
      .default({})
      .describe('Which of a VM’s addresses becomes ISTIO_SVC_IP and the WorkloadEntry address.'),
    activeTimeout: durationSchema.default('10m').describe('How long a job waits for a server to leave BUILD.'),
  })
  .strict();

export type OpenStackConfig = z.infer<typeof openstackConfigSchema>;

export interface OpenStackSecrets {
  /** Content of secretFile or passwordFile. */
  secret: string;
  /** Content of caBundleFile. */
  caBundle?: string;
}

/** The values read from the files: one trailing newline, as `echo` and editors leave it, is not part of a secret. */
export function keystoneAuthFromConfig(auth: OpenStackConfig['auth'], secretText: string): KeystoneAuth {
  const secret = secretText.replace(/\r?\n$/, '');
  if (auth.method === 'password') return { method: 'password', user: auth.user, password: secret, project: auth.project };
  if (auth.id !== undefined) return { method: 'application_credential', id: auth.id, secret };
  return { method: 'application_credential', name: auth.name ?? '', user: auth.user ?? { id: '' }, secret };
}

export interface OpenStackClients {
  keystone: KeystoneClient;
  session: OpenStackSession;
  servers: NovaServerDirectory;
}

export function createOpenStackClients(config: OpenStackConfig, secrets: OpenStackSecrets, runtime: { clock?: Clock; logger?: Logger } = {}): OpenStackClients {
  const transport = createHttpTransport(secrets.caBundle === undefined ? {} : { caBundle: secrets.caBundle });
  const requestTimeoutMs = durationToMs(config.requestTimeout);
  const options: KeystoneClientOptions = {
    authUrl: config.authUrl,
    auth: keystoneAuthFromConfig(config.auth, secrets.secret),
    interface: config.interface,
    refreshMarginMs: durationToMs(config.tokenRefreshMargin),
    requestTimeoutMs,
    endpointOverrides: config.endpointOverrides,
    transport,
    ...(config.region === undefined ? {} : { region: config.region }),
    ...runtime,
  };
  const keystone = new KeystoneClient(options);
  const session = new OpenStackSession({ identity: keystone, transport, requestTimeoutMs });
  return { keystone, session, servers: new NovaServerDirectory({ session, ...(runtime.logger === undefined ? {} : { logger: runtime.logger }) }) };
}
