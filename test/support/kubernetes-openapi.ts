import * as k8s from '@kubernetes/client-node';

/**
 * Strict decoding of Kubernetes manifests against the upstream OpenAPI models, as
 * `kubectl apply --validate=strict` does: @kubernetes/client-node's classes are generated from
 * kube-apiserver's OpenAPI document, and each carries its fields (`attributeTypeMap`, with the
 * JSON names as `baseName`). Unknown fields and wrong types are problems; required fields and
 * value ranges are left to the Kubernetes simulator's checks.
 */
interface Attribute {
  baseName: string;
  type: string;
  format: string;
}

type ModelClass = { attributeTypeMap?: Attribute[] };

function modelOf(type: string): ModelClass | undefined {
  const candidate = (k8s as unknown as Record<string, unknown>)[type];
  return typeof candidate === 'function' && Array.isArray((candidate as ModelClass).attributeTypeMap) ? (candidate as ModelClass) : undefined;
}

function checkScalar(value: unknown, attribute: { type: string; format: string }, path: string): string[] {
  const wrong = (expected: string): string[] => [`${path}: expected ${expected}, got ${JSON.stringify(value)}`];
  switch (attribute.type) {
    case 'string':
      return typeof value === 'string' ? [] : wrong('a string');
    case 'boolean':
      return typeof value === 'boolean' ? [] : wrong('a boolean');
    case 'number':
      if (typeof value !== 'number') return wrong('a number');
      return attribute.format.startsWith('int') && !Number.isInteger(value) ? wrong('an integer') : [];
    case 'IntOrString':
      return typeof value === 'string' || Number.isInteger(value) ? [] : wrong('an integer or a string');
    case 'Date':
      return typeof value === 'string' && !Number.isNaN(Date.parse(value)) ? [] : wrong('an RFC 3339 time');
    default:
      return [];
  }
}

export function validateAgainstModel(value: unknown, type: string, path = '', format = ''): string[] {
  const array = /^Array<(.+)>$/.exec(type);
  if (array !== null) {
    if (!Array.isArray(value)) return [`${path}: expected a list`];
    return value.flatMap((item, index) => validateAgainstModel(item, array[1] as string, `${path}[${index}]`, format));
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map !== null) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected a map`];
    return Object.entries(value).flatMap(([key, item]) => validateAgainstModel(item, map[1] as string, `${path}.${key}`, format));
  }
  if (type === 'any') return [];
  const model = modelOf(type);
  if (model === undefined) return checkScalar(value, { type, format }, path);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected an object (${type})`];
  const attributes = new Map((model.attributeTypeMap ?? []).map((attribute) => [attribute.baseName, attribute]));
  return Object.entries(value).flatMap(([key, item]) => {
    const attribute = attributes.get(key);
    if (attribute === undefined) return [`${path === '' ? '' : `${path}.`}${key}: unknown field in ${type}`];
    return validateAgainstModel(item, attribute.type, path === '' ? key : `${path}.${key}`, attribute.format);
  });
}

/** The generated class for a manifest's apiVersion and kind: `apps/v1` Deployment → V1Deployment. */
export function modelNameOf(manifest: { apiVersion: string; kind: string }): string {
  const version = manifest.apiVersion.split('/').pop() ?? '';
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${manifest.kind}`;
}
