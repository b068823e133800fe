import { z } from 'zod';
import { AppError, type FieldProblem } from '../errors.js';
import { injectionSpecSchema } from '../injection-spec.js';
import { dnsLabelSchema, dnsSubdomainSchema, labelsSchema } from '../kubernetes-names.js';
import { formatZodProblems } from '../validation.js';
import { isRecord } from './sol003-fields.js';

/**
 * The `meshSidecar` parameters that opt a Tacker VM into the mesh (docs/tacker-parameters.md).
 * They never hold a secret: Tacker returns `additionalParams` unredacted from
 * `GET vnf_lcm_op_occs` (tacker/sol_refactored/controller/vnflcm_view.py returns operationParams
 * as stored), and Nova shows server metadata to anyone who can read the server. A parameter names
 * a secret (`ssh.privateKeySecret`); the plugin resolves the name.
 */

export const MESH_PARAMETERS_KEY = 'meshSidecar';
export const SERVER_METADATA_PREFIX = 'vmsi.mesh.';

// Field rules are the InjectionSpec's own, so parameters that pass here cannot fail there.
const specMesh = injectionSpecSchema.shape.mesh.shape;
const specSsh = injectionSpecSchema.shape.vm.shape.ssh.unwrap().shape;
const portNumber = z.number().int().min(1).max(65535);

const secretNameSchema = z
  .string()
  .min(1)
  .max(253)
  // The file secret store's rule (src/secrets/file-secret-resolver.ts): one path component, no leading dot.
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be the name of a secret known to the plugin (letters, digits, ".", "_", "-")')
  .describe('Name of the SSH private key in the plugin secret store; never the key itself.');

const sshParametersSchema = z.strictObject({
  user: specSsh.user,
  port: portNumber.optional(),
  privateKeySecret: secretNameSchema,
  hostKey: specSsh.hostKey.unwrap().optional(),
});

const optionalFields = {
  enabled: z.boolean().optional().describe('false opts out; a source that is present and says nothing opts in.'),
  serviceAccount: dnsSubdomainSchema.optional(),
  labels: labelsSchema.optional(),
  ports: z.record(dnsLabelSchema, portNumber).optional(),
  network: z.string().max(63).optional(),
  vdus: z.array(z.string().min(1)).min(1).optional().describe('VDUs whose VMs are injected; absent means every VDU.'),
  ssh: sshParametersSchema.optional(),
  dnsCapture: z.boolean().optional(),
  autoRegister: z.boolean().optional(),
  certificates: z.enum(['token', 'istio-ca']).optional().describe("istio-ca: the VM's key stays on it and the plugin has its CSR signed (docs/istio-ca.md)."),
  probe: specMesh.probe,
};

/** What one source may say: any subset, since the sources are layered (docs/tacker-parameters.md). */
export const meshParametersLayerSchema = z.strictObject({
  namespace: dnsLabelSchema.optional(),
  workloadGroup: dnsLabelSchema.optional(),
  ...optionalFields,
});

/** A per-VNFD profile in the plugin config has the same form; config.ts may use these schemas. */
export const meshProfileSchema = meshParametersLayerSchema;
export const meshProfilesSchema = z.record(z.string().min(1), meshProfileSchema).describe('VNFD ID → default meshSidecar parameters for its VMs.');

const meshParametersSchema = z.strictObject({ namespace: dnsLabelSchema, workloadGroup: dnsLabelSchema, ...optionalFields });

export type MeshParametersLayer = z.infer<typeof meshParametersLayerSchema>;
export type MeshProfile = MeshParametersLayer;
export type MeshParameters = Omit<z.infer<typeof meshParametersSchema>, 'enabled'>;
export type MeshParameterSource = 'additionalParams' | 'serverMetadata' | 'profile';

export interface MeshParameterSources {
  /** The LCM operation's `additionalParams` (of the notification's op occ, or the mgmt-driver request). */
  additionalParams?: unknown;
  /** Nova server metadata (`GET /servers/{id}` → `metadata`). */
  serverMetadata?: Record<string, string>;
  /** The plugin config's profile for this VNF's vnfdId, if any. */
  profile?: unknown;
  vduId: string;
}

export type MeshParameterResolution =
  | { optedIn: true; params: MeshParameters; source: MeshParameterSource }
  | { optedIn: false; reason: string };

interface Layer {
  source: MeshParameterSource;
  values: MeshParametersLayer;
}

/**
 * Resolves a VM's mesh parameters. The highest source present decides opt-in (`enabled`, default
 * true): operation `additionalParams.meshSidecar`, then Nova server metadata `vmsi.mesh.*`, then the
 * VNFD profile. Fields are layered: each comes from the highest source that sets it. A VM opted in
 * is injected only if its VDU is selected (`vdus` absent selects all). Throws INVALID_REQUEST
 * listing every problem, secrets named as such, when a source is malformed.
 */
export function resolveMeshParameters(sources: MeshParameterSources): MeshParameterResolution {
  const layers = readLayers(sources);
  const decider = layers[0];
  if (decider === undefined) {
    return { optedIn: false, reason: 'No meshSidecar in additionalParams, no vmsi.mesh.* server metadata and no profile for the VNFD.' };
  }
  if (decider.values.enabled === false) return { optedIn: false, reason: `Opted out by ${decider.source} (enabled: false).` };
  const params = mergedParameters(layers);
  if (params.vdus !== undefined && !params.vdus.includes(sources.vduId)) {
    return { optedIn: false, reason: `VDU ${sources.vduId} is not among the selected VDUs (${params.vdus.join(', ')}).` };
  }
  return { optedIn: true, params, source: decider.source };
}

function readLayers(sources: MeshParameterSources): Layer[] {
  const problems: FieldProblem[] = [];
  const layers: Layer[] = [];
  const read = (source: MeshParameterSource, raw: unknown, path: string): void => {
    if (raw === undefined) return;
    const values = readLayer(raw, path, problems);
    if (values !== undefined) layers.push({ source, values });
  };
  read('additionalParams', isRecord(sources.additionalParams) ? sources.additionalParams[MESH_PARAMETERS_KEY] : undefined, `additionalParams.${MESH_PARAMETERS_KEY}`);
  read('serverMetadata', metadataLayer(sources.serverMetadata, problems), 'serverMetadata.vmsi.mesh');
  read('profile', sources.profile, 'profile');
  if (problems.length > 0) throw new AppError('INVALID_REQUEST', 'The meshSidecar parameters are invalid.', { problems });
  return layers;
}

function readLayer(raw: unknown, path: string, problems: FieldProblem[]): MeshParametersLayer | undefined {
  const secrets = secretProblems(raw, path);
  if (secrets.length > 0) {
    problems.push(...secrets);
    return undefined;
  }
  const parsed = meshParametersLayerSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  problems.push(...formatZodProblems(parsed.error).map((problem) => ({ path: problem.path === '(root)' ? path : `${path}.${problem.path}`, message: problem.message })));
  return undefined;
}

function mergedParameters(layers: Layer[]): MeshParameters {
  const merged: Record<string, unknown> = {};
  for (const layer of [...layers].reverse()) Object.assign(merged, layer.values);
  delete merged.enabled;
  const parsed = meshParametersSchema.safeParse(merged);
  if (parsed.success) return parsed.data;
  const from = layers.map((layer) => layer.source).join(', ');
  throw new AppError('INVALID_REQUEST', 'The meshSidecar parameters are incomplete.', {
    problems: formatZodProblems(parsed.error).map((problem) => ({ path: `${MESH_PARAMETERS_KEY}.${problem.path}`, message: `${problem.message} (looked in ${from})` })),
  });
}

// ---- secrets: refused by name and by content, with a message that says why ----

const SECRET_KEY = /(password|passwd|passphrase|token|private_?key|api_?key|credential|secret)/i;
/** Names that refer to a secret rather than hold one. */
const SECRET_REFERENCE_KEYS = new Set(['privateKeySecret']);
const SECRET_HEADER = /^(authorization|proxy-authorization|cookie)$|token|secret|api-?key/i;
const PEM_PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;
/** Maps whose keys are data (label names, port names), not field names. */
const DATA_MAPS = new Set(['labels', 'ports']);

const SECRET_MESSAGE =
  'secret values are never accepted in Tacker parameters (Tacker returns additionalParams unredacted from GET vnf_lcm_op_occs, and Nova shows server metadata); ' +
  'store the secret with the plugin and name it, e.g. ssh.privateKeySecret';

export function secretProblems(value: unknown, path: string): FieldProblem[] {
  if (typeof value === 'string') return PEM_PRIVATE_KEY.test(value) ? [{ path, message: `holds a private key: ${SECRET_MESSAGE}` }] : [];
  if (Array.isArray(value)) return value.flatMap((item, index) => secretProblems(item, `${path}.${index}`));
  if (!isRecord(value)) return [];
  return Object.entries(value).flatMap(([key, inner]) => fieldSecretProblems(key, inner, path));
}

function fieldSecretProblems(key: string, inner: unknown, parentPath: string): FieldProblem[] {
  const path = `${parentPath}.${key}`;
  if (SECRET_KEY.test(key) && !SECRET_REFERENCE_KEYS.has(key)) return [{ path, message: `looks like a secret: ${SECRET_MESSAGE}` }];
  if (key === 'httpHeaders' && Array.isArray(inner)) return inner.flatMap((header, index) => headerSecretProblems(header, `${path}.${index}`));
  if (DATA_MAPS.has(key) && isRecord(inner)) return Object.entries(inner).flatMap(([name, item]) => secretProblems(item, `${path}.${name}`));
  return secretProblems(inner, path);
}

function headerSecretProblems(header: unknown, path: string): FieldProblem[] {
  const name = isRecord(header) ? header.name : undefined;
  if (typeof name === 'string' && SECRET_HEADER.test(name)) return [{ path: `${path}.value`, message: `header ${name} carries a credential: ${SECRET_MESSAGE}` }];
  return secretProblems(header, path);
}

// ---- Nova server metadata: a flat key scheme, since Nova metadata values are strings ----

type MetadataKind = 'string' | 'boolean' | 'integer' | 'json';

/** Key after `vmsi.mesh.` → where it goes and how its string value is read. */
export const SERVER_METADATA_KEYS: Record<string, { path: string[]; kind: MetadataKind }> = {
  enabled: { path: ['enabled'], kind: 'boolean' },
  namespace: { path: ['namespace'], kind: 'string' },
  workloadGroup: { path: ['workloadGroup'], kind: 'string' },
  serviceAccount: { path: ['serviceAccount'], kind: 'string' },
  network: { path: ['network'], kind: 'string' },
  labels: { path: ['labels'], kind: 'json' },
  ports: { path: ['ports'], kind: 'json' },
  probe: { path: ['probe'], kind: 'json' },
  dnsCapture: { path: ['dnsCapture'], kind: 'boolean' },
  autoRegister: { path: ['autoRegister'], kind: 'boolean' },
  certificates: { path: ['certificates'], kind: 'string' },
  'ssh.user': { path: ['ssh', 'user'], kind: 'string' },
  'ssh.port': { path: ['ssh', 'port'], kind: 'integer' },
  'ssh.privateKeySecret': { path: ['ssh', 'privateKeySecret'], kind: 'string' },
  'ssh.hostKey': { path: ['ssh', 'hostKey'], kind: 'json' },
};

/** The `vmsi.mesh.*` keys as a layer object, or undefined when the server has none. */
function metadataLayer(metadata: Record<string, string> | undefined, problems: FieldProblem[]): Record<string, unknown> | undefined {
  const entries = Object.entries(metadata ?? {}).filter(([key]) => key.startsWith(SERVER_METADATA_PREFIX));
  if (entries.length === 0) return undefined;
  const layer: Record<string, unknown> = {};
  for (const [key, raw] of entries) {
    const problem = placeMetadataValue(layer, key.slice(SERVER_METADATA_PREFIX.length), raw);
    if (problem !== undefined) problems.push({ path: `serverMetadata.${key}`, message: problem });
  }
  return layer;
}

function placeMetadataValue(layer: Record<string, unknown>, name: string, raw: string): string | undefined {
  const field = SERVER_METADATA_KEYS[name];
  if (field === undefined) {
    if (SECRET_KEY.test(name.split('.').pop() ?? '')) return `looks like a secret: ${SECRET_MESSAGE}`;
    return `unknown key; known keys are ${Object.keys(SERVER_METADATA_KEYS).map((known) => SERVER_METADATA_PREFIX + known).join(', ')}`;
  }
  const read = readMetadataValue(raw, field.kind);
  if ('problem' in read) return read.problem;
  setPath(layer, field.path, read.value);
  return undefined;
}

function readMetadataValue(raw: string, kind: MetadataKind): { value: unknown } | { problem: string } {
  const text = raw.trim();
  if (kind === 'string') return { value: text };
  if (kind === 'boolean') return /^(true|false)$/i.test(text) ? { value: text.toLowerCase() === 'true' } : { problem: 'must be true or false' };
  if (kind === 'integer') return /^\d+$/.test(text) ? { value: Number(text) } : { problem: 'must be a whole number' };
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return { problem: 'must be JSON (Nova metadata values are strings)' };
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  const [head, ...rest] = path;
  if (head === undefined) return;
  if (rest.length === 0) {
    target[head] = value;
    return;
  }
  const child = isRecord(target[head]) ? target[head] : {};
  target[head] = child;
  setPath(child, rest, value);
}
