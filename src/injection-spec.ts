import { z } from 'zod';
import { durationSchema } from './duration.js';
import { AppError } from './errors.js';
import { dnsLabelSchema, dnsSubdomainSchema, labelsSchema } from './kubernetes-names.js';
import { hostOrIpSchema, hostPortSchema, hostnameSchema, ipAddressSchema } from './network-address.js';
import { formatZodProblems } from './validation.js';

/**
 * The one input that describes an injection, whoever asks for it (Tacker plugin, orchestrator,
 * administrator). Secrets are never inside it: keys are named by reference and resolved later.
 */

const portNumber = z.number().int().min(1).max(65535);

const secretReferenceSchema = z
  .union([
    z.object({ file: z.string().min(1).describe('Path of a file readable by the service.') }).strict(),
    z.object({ secret: z.string().min(1).describe('Name resolved by the configured secret store.') }).strict(),
  ])
  .describe('Where the service finds a secret. The secret itself is never part of a spec.');

const hostKeyPolicySchema = z
  .discriminatedUnion('policy', [
    z
      .object({
        policy: z.literal('pinned'),
        publicKeys: z
          .array(z.string().regex(/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$/, 'must be an OpenSSH public key line'))
          .min(1)
          .optional(),
        fingerprints: z
          .array(z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'must be an OpenSSH SHA256 fingerprint, e.g. SHA256:abc…'))
          .min(1)
          .optional(),
      })
      .strict()
      .refine((value) => value.publicKeys !== undefined || value.fingerprints !== undefined, 'pinned needs publicKeys or fingerprints'),
    z.object({ policy: z.literal('known-hosts'), file: z.string().min(1).optional() }).strict(),
    z.object({ policy: z.literal('accept-new') }).strict(),
  ])
  .describe('pinned: only these keys; known-hosts: an OpenSSH known_hosts file; accept-new: record the first key seen per server and enforce it afterwards.');

const sshEndpointFields = {
  port: portNumber.default(22),
  user: z.string().regex(/^[a-z_][a-z0-9_.-]{0,31}$/, 'must be a POSIX user name'),
  privateKeyRef: secretReferenceSchema,
  hostKey: hostKeyPolicySchema.default({ policy: 'accept-new' }),
};

const jumpHostSchema = z.object({ address: hostOrIpSchema, ...sshEndpointFields }).strict();

const sshSchema = z
  .object({
    ...sshEndpointFields,
    jumpHost: jumpHostSchema.optional().describe('Bastion to reach tenant networks (ProxyJump).'),
  })
  .strict();

const vmSchema = z
  .object({
    name: z.string().min(1).max(255).regex(/^[\x21-\x7e][\x20-\x7e]*$/, 'must be printable ASCII').describe('The VM name as OpenStack knows it.'),
    serverId: z.uuid().optional().describe('Nova server UUID, when known.'),
    address: ipAddressSchema.describe('The VM address the mesh uses: written as ISTIO_SVC_IP and into the WorkloadEntry.'),
    ssh: sshSchema.optional().describe('Required for delivery method ssh.'),
  })
  .strict();

const probeSchema = z
  .object({
    initialDelaySeconds: z.number().int().min(0).optional(),
    timeoutSeconds: z.number().int().min(0).optional(),
    periodSeconds: z.number().int().min(0).optional(),
    successThreshold: z.number().int().min(0).optional(),
    failureThreshold: z.number().int().min(0).optional(),
    httpGet: z
      .object({
        path: z.string().optional(),
        port: portNumber,
        host: z.string().optional(),
        scheme: z.enum(['HTTP', 'HTTPS']).optional(),
        httpHeaders: z.array(z.object({ name: z.string().regex(/^[-_A-Za-z0-9]+$/), value: z.string() }).strict()).optional(),
      })
      .strict()
      .optional(),
    tcpSocket: z.object({ host: z.string().optional(), port: portNumber }).strict().optional(),
    exec: z.object({ command: z.array(z.string().min(1)).min(1) }).strict().optional(),
    grpc: z.object({ port: portNumber, service: z.string().optional() }).strict().optional(),
  })
  .strict()
  .refine(
    (probe) => [probe.httpGet, probe.tcpSocket, probe.exec, probe.grpc].filter((check) => check !== undefined).length === 1,
    'a probe needs exactly one of httpGet, tcpSocket, exec or grpc',
  )
  .describe('The WorkloadGroup readiness probe, as Istio defines it.');

const gatewaySchema = z
  .object({
    ip: ipAddressSchema.optional(),
    hostname: hostnameSchema.optional().describe('Resolved by the service when rendering; rendering fails if it does not resolve.'),
    service: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\.[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be <service>.<namespace>, e.g. istio-eastwestgateway.istio-system')
      .optional()
      .describe('A Service whose load balancer address is read from the cluster (kubernetes credentials only).'),
  })
  .strict()
  .refine((gateway) => [gateway.ip, gateway.hostname, gateway.service].filter((value) => value !== undefined).length === 1, 'set exactly one of ip, hostname or service')
  .describe('The east-west gateway through which the VM reaches istiod; becomes the hosts line.');

const meshSchema = z
  .object({
    namespace: dnsLabelSchema.describe('Namespace of the WorkloadGroup and WorkloadEntry.'),
    workloadGroup: dnsLabelSchema.describe('WorkloadGroup name; also the ISTIO_SERVICE name.'),
    serviceAccount: dnsSubdomainSchema.default('default'),
    labels: labelsSchema.default({}),
    ports: z
      .record(dnsLabelSchema, portNumber)
      .default({})
      .describe('Named inbound ports; empty captures every inbound port.'),
    network: z.string().max(63).default('').describe('Istio network of the VM; empty for a single network.'),
    locality: z.string().max(255).optional(),
    clusterId: z.string().min(1).optional().describe("Must equal istiod's cluster ID; defaults to the control plane's, else Kubernetes."),
    trustDomain: dnsSubdomainSchema.optional().describe('Defaults to the mesh config trustDomain, else cluster.local.'),
    meshId: z.string().min(1).optional().describe('Defaults to the mesh config defaultConfig.meshId.'),
    revision: dnsLabelSchema.optional().describe('Istio revision of the control plane; "default" or absent means none.'),
    istioNamespace: dnsLabelSchema.default('istio-system'),
    discoveryAddress: hostPortSchema.optional().describe('Overrides istiod[-<revision>].<istioNamespace>.svc:15012.'),
    gateway: gatewaySchema.optional(),
    dnsCapture: z.boolean().default(true),
    autoRegister: z.boolean().default(false).describe('Let istiod create the WorkloadEntry when the proxy connects.'),
    certificates: z
      .enum(['token', 'istio-ca'])
      .default('token')
      .describe(
        "token: pilot-agent asks istiod's CA itself with a bootstrap token written to the VM. istio-ca: the key and CSR are made on the VM, the service has the CSR signed and writes the chain to /etc/certs (no token on the VM; ssh delivery only; docs/istio-ca.md).",
      ),
    probe: probeSchema.optional(),
    proxyConfig: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('ProxyConfig fields merged over the mesh defaultConfig, like the proxy.istio.io/config annotation.'),
  })
  .strict();

const packageSchema = z
  .discriminatedUnion('source', [
    z.object({ source: z.literal('mirror'), url: z.url({ protocol: /^https?$/ }), sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits') }).strict(),
    z
      .object({
        source: z.literal('push'),
        file: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*\.(deb|rpm)$/, 'must be a .deb or .rpm file name inside the artifact folder'),
        sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
      })
      .strict(),
  ])
  .describe('mirror: the VM downloads the package; push: the service sends it from its artifact folder (VMs with no route out).');

const deliverySchema = z
  .object({
    method: z.enum(['ssh', 'cloud-init']).default('ssh'),
    readyTimeout: durationSchema.default('180s').describe('How long the VM may take to report the sidecar ready.'),
  })
  .strict();

export const injectionSpecSchema = z
  .object({
    vm: vmSchema,
    mesh: meshSchema,
    package: packageSchema,
    delivery: deliverySchema.default({ method: 'ssh', readyTimeout: '180s' }),
  })
  .strict()
  .superRefine(checkCrossFieldRules);

export type InjectionSpec = z.infer<typeof injectionSpecSchema>;
export type InjectionSpecInput = z.input<typeof injectionSpecSchema>;
export type SecretReference = z.infer<typeof secretReferenceSchema>;
export type HostKeyPolicy = z.infer<typeof hostKeyPolicySchema>;
export type WorkloadProbe = z.infer<typeof probeSchema>;

type ParsedSections = Partial<z.infer<z.ZodObject<{ vm: typeof vmSchema; mesh: typeof meshSchema; package: typeof packageSchema; delivery: typeof deliverySchema }>>>;

/** Runs even when sections failed to parse, so every problem is reported at once; hence the optional reads. */
function checkCrossFieldRules(spec: ParsedSections, ctx: z.RefinementCtx): void {
  const method = spec.delivery?.method ?? 'ssh';
  for (const problem of [sshNeeded(spec, method), istiodUnreachable(spec), pushWithCloudInit(spec, method), istioCaWithCloudInit(spec, method)]) {
    if (problem) ctx.addIssue({ code: 'custom', ...problem });
  }
}

type CrossFieldProblem = { path: string[]; message: string } | undefined;

function sshNeeded(spec: ParsedSections, method: string): CrossFieldProblem {
  if (spec.vm === undefined || method !== 'ssh' || spec.vm.ssh !== undefined) return undefined;
  return { path: ['vm', 'ssh'], message: 'delivery method ssh needs vm.ssh (user, privateKeyRef)' };
}

function istiodUnreachable(spec: ParsedSections): CrossFieldProblem {
  if (spec.mesh === undefined || spec.mesh.gateway !== undefined || spec.mesh.discoveryAddress !== undefined) return undefined;
  return {
    path: ['mesh', 'gateway'],
    message: 'the VM cannot resolve istiod: set mesh.gateway (ip or hostname) or a mesh.discoveryAddress the VM resolves itself',
  };
}

function pushWithCloudInit(spec: ParsedSections, method: string): CrossFieldProblem {
  if (spec.package?.source !== 'push' || method !== 'cloud-init') return undefined;
  return {
    path: ['package', 'source'],
    message: 'cloud-init delivery cannot push a package (Nova limits user data to 65,535 bytes): use source mirror',
  };
}

function istioCaWithCloudInit(spec: ParsedSections, method: string): CrossFieldProblem {
  if (spec.mesh?.certificates !== 'istio-ca' || method !== 'cloud-init') return undefined;
  return {
    path: ['mesh', 'certificates'],
    message: 'istio-ca certificates need delivery method ssh: the CSR made on the VM must come back to the service before the agent starts',
  };
}

/** Parses untrusted input into a spec, or throws one INVALID_SPEC error listing every problem. */
export function parseInjectionSpec(input: unknown): InjectionSpec {
  const parsed = injectionSpecSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new AppError('INVALID_SPEC', 'The injection spec is invalid.', { problems: formatZodProblems(parsed.error) });
}

export function isRevisioned(revision: string | undefined): revision is string {
  return revision !== undefined && revision !== '' && revision !== 'default';
}
