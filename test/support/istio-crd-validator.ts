import { readFileSync } from 'node:fs';
import { Ajv, type AnySchemaObject, type ErrorObject, type SchemaValidateFunction, type ValidateFunction } from 'ajv';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { labelKeyProblem, labelValueProblem } from '../../src/kubernetes-names.js';

/**
 * Judges generated Istio objects by the CRDs istio/api publishes (../shared/istio/crds.yaml), the
 * way a kube-apiserver with `kubectl apply --validate=strict` would: the served version's
 * openAPIV3Schema, unknown fields rejected where the schema does not preserve them, ObjectMeta
 * name rules. CEL rules (x-kubernetes-validations) are checked for the rule texts listed in
 * CEL_RULES; any other rule is skipped, since no CEL interpreter is available here.
 */

const CRDS_FILE = new URL('../../../shared/istio/crds.yaml', import.meta.url);
const DNS1123_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const DNS1123_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const PORT_NAME = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$/;

interface CrdVersion {
  name: string;
  served: boolean;
  schema?: { openAPIV3Schema?: AnySchemaObject };
}

interface Crd {
  spec: { group: string; names: { kind: string }; versions: CrdVersion[] };
}

interface CelRule {
  rule: string;
  message?: string;
}

const has = (value: unknown, key: string): boolean => typeof value === 'object' && value !== null && Object.hasOwn(value, key);
const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/** The CEL rules the WorkloadEntry and WorkloadGroup schemas use, written out in JavaScript. */
const CEL_RULES: Record<string, (self: unknown) => boolean> = {
  '0 < self && self <= 65535': (self) => typeof self === 'number' && self > 0 && self <= 65535,
  'self.all(key, size(key) < 63 && key.matches("^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$"))': (self) =>
    Object.keys(self as object).every((key) => key.length < 63 && PORT_NAME.test(key)),
  'has(self.address) || has(self.network)': (self) => has(self, 'address') || has(self, 'network'),
  'self.startsWith("unix://") ? (self.substring(7, 8) == "/" || self.substring(7, 8) == "@") : true': (self) =>
    !text(self).startsWith('unix://') || ['/', '@'].includes(text(self).slice(7, 8)),
  'self.startsWith("unix://") ? !self.endsWith("/") : true': (self) => !text(self).startsWith('unix://') || !text(self).endsWith('/'),
  '(has(self.address) ? self.address : "").startsWith("unix://") ? !has(self.ports) : true': (self) =>
    !text((self as Record<string, unknown>).address).startsWith('unix://') || !has(self, 'ports'),
  'self in ["", "HTTP", "HTTPS"]': (self) => ['', 'HTTP', 'HTTPS'].includes(text(self)),
};

const checkCelRules: SchemaValidateFunction = (rules: CelRule[], data: unknown): boolean => {
  const failed = rules.filter((rule) => CEL_RULES[rule.rule.replace(/\s+/g, ' ')]?.(data) === false);
  checkCelRules.errors = failed.map((rule) => ({
    keyword: 'x-kubernetes-validations',
    message: rule.message ?? rule.rule,
    params: { rule: rule.rule },
  }));
  return failed.length === 0;
};

/** ObjectMeta as the API server accepts it from a client; unknown keys are rejected like elsewhere. */
const OBJECT_META_SCHEMA: AnySchemaObject = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 253, pattern: DNS1123_SUBDOMAIN },
    generateName: { type: 'string' },
    namespace: { type: 'string', maxLength: 63, pattern: DNS1123_LABEL },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
    uid: { type: 'string' },
    resourceVersion: { type: 'string' },
    generation: { type: 'integer' },
    creationTimestamp: { type: ['string', 'null'] },
    deletionTimestamp: { type: 'string' },
    deletionGracePeriodSeconds: { type: 'integer' },
    ownerReferences: { type: 'array', items: { type: 'object' } },
    finalizers: { type: 'array', items: { type: 'string' } },
    managedFields: { type: 'array', items: { type: 'object' } },
  },
};

function createAjv(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true });
  for (const keyword of ['x-kubernetes-preserve-unknown-fields', 'x-kubernetes-int-or-string', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys']) {
    ajv.addKeyword({ keyword });
  }
  ajv.addKeyword({ keyword: 'x-kubernetes-validations', schemaType: 'array', errors: true, validate: checkCelRules });
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat('uint32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= 0 && n < 2 ** 32 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('double', { type: 'number', validate: (n: number) => Number.isFinite(n) });
  ajv.addFormat('byte', /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/);
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/);
  return ajv;
}

/**
 * Structural schemas prune unknown fields, and strict field validation turns that pruning into an
 * error: every object that neither lists additionalProperties nor preserves unknown fields is closed.
 */
function closeObjects(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closeObjects);
  if (schema === null || typeof schema !== 'object') return schema;
  const node = Object.fromEntries(Object.entries(schema).map(([key, inner]) => [key, key === 'properties' ? closeEach(inner) : closeObjects(inner)]));
  const isClosable = node.type === 'object' && node.additionalProperties === undefined && node['x-kubernetes-preserve-unknown-fields'] !== true;
  if (isClosable) node.additionalProperties = false;
  return node;
}

function closeEach(properties: unknown): unknown {
  return Object.fromEntries(Object.entries(properties as Record<string, unknown>).map(([name, inner]) => [name, closeObjects(inner)]));
}

let crds: Crd[] | undefined;
const ajv = createAjv();
const validators = new Map<string, ValidateFunction | string>();

function loadCrds(): Crd[] {
  crds ??= parseAllDocuments(readFileSync(CRDS_FILE, 'utf8'))
    .map((document) => document.toJS() as Crd | null)
    .filter((document): document is Crd => document?.spec?.names?.kind !== undefined);
  return crds;
}

/** The compiled validator for one served group/version/kind, or a sentence saying why there is none. */
function validatorFor(apiVersion: string, kind: string): ValidateFunction | string {
  const key = `${apiVersion}/${kind}`;
  let validator = validators.get(key);
  if (validator === undefined) {
    validator = compileValidator(apiVersion, kind);
    validators.set(key, validator);
  }
  return validator;
}

function compileValidator(apiVersion: string, kind: string): ValidateFunction | string {
  const [group, version] = apiVersion.split('/');
  const crd = loadCrds().find((candidate) => candidate.spec.group === group && candidate.spec.names.kind === kind);
  if (crd === undefined) return `no CRD in ${CRDS_FILE.pathname} defines kind ${kind} in group ${group}`;
  const served = crd.spec.versions.find((candidate) => candidate.name === version && candidate.served);
  const schema = served?.schema?.openAPIV3Schema;
  if (schema === undefined) return `${group} does not serve ${kind} in version ${version}`;
  const closed = closeObjects(schema) as AnySchemaObject;
  return ajv.compile({
    ...closed,
    required: ['apiVersion', 'kind', 'metadata', ...((closed.required as string[] | undefined) ?? [])],
    additionalProperties: false,
    properties: {
      ...(closed.properties as Record<string, unknown>),
      apiVersion: { const: apiVersion },
      kind: { const: kind },
      metadata: OBJECT_META_SCHEMA,
    },
  });
}

function describeError(error: ErrorObject): string {
  const extra = error.keyword === 'additionalProperties' ? ` (${String((error.params as { additionalProperty: string }).additionalProperty)})` : '';
  return `${error.instancePath === '' ? '/' : error.instancePath} ${error.message ?? error.keyword}${extra}`;
}

function metadataProblems(metadata: unknown): string[] {
  if (typeof metadata !== 'object' || metadata === null) return [];
  const { labels, annotations } = metadata as { labels?: unknown; annotations?: unknown };
  const problems: string[] = [];
  for (const [key, value] of Object.entries(labels ?? {})) {
    const problem = labelKeyProblem(key) ?? (typeof value === 'string' ? labelValueProblem(value) : undefined);
    if (problem !== undefined) problems.push(`/metadata/labels ${problem}`);
  }
  for (const key of Object.keys(annotations ?? {})) {
    const problem = labelKeyProblem(key);
    if (problem !== undefined) problems.push(`/metadata/annotations ${problem.replace('label key', 'annotation key')}`);
  }
  return problems;
}

/** Every reason the API server would refuse the object; empty when it would accept it. */
export function validateIstioObject(object: unknown): string[] {
  if (typeof object !== 'object' || object === null) return ['/ must be an object'];
  const { apiVersion, kind, metadata } = object as { apiVersion?: unknown; kind?: unknown; metadata?: unknown };
  if (typeof apiVersion !== 'string' || !apiVersion.includes('/')) return ['/apiVersion must be <group>/<version>'];
  if (typeof kind !== 'string') return ['/kind must be a string'];
  const validator = validatorFor(apiVersion, kind);
  if (typeof validator === 'string') return [validator];
  const problems = validator(object) ? [] : (validator.errors ?? []).map(describeError);
  return [...problems, ...metadataProblems(metadata)];
}

/** Fails the current test with every problem listed, so one run shows all that is wrong. */
export function assertValidIstioObject(object: unknown): void {
  const identity = JSON.stringify([(object as { kind?: unknown })?.kind, (object as { metadata?: { name?: unknown } })?.metadata?.name]);
  expect(validateIstioObject(object), `${identity} is not valid for its Istio CRD`).to.deep.equal([]);
}
