import { labelKeyProblem, labelValueProblem } from '../../../src/kubernetes-names.js';
import type { StatusCause } from './kubernetes-status.js';
import type { ServedResource } from './resource-catalog.js';
import type { KubeObject } from './server-side-apply.js';

/**
 * The part of kube-apiserver's validation and defaulting (pkg/apis/{core,apps}/validation and
 * defaults) the orchestrator's objects can meet: names, labels, a Deployment's selector and
 * containers, a Service's ports. Defaults are set only on top-level spec fields: this simulator's
 * server-side apply treats lists as atomic, so defaulting inside a list (a port's protocol) would
 * make every re-apply look like a change.
 */

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Namespaces and Services are DNS labels; everything else here a DNS subdomain. */
const LABEL_NAMED = new Set(['namespaces', 'services']);

type Labels = Record<string, string>;

function nameProblems(resource: ServedResource, name: unknown): StatusCause[] {
  if (typeof name !== 'string' || name === '') return [{ field: 'metadata.name', message: 'Required value: name or generateName is required' }];
  const isLabel = LABEL_NAMED.has(resource.plural);
  const isValid = isLabel ? DNS1123_LABEL.test(name) && name.length <= 63 : DNS1123_SUBDOMAIN.test(name) && name.length <= 253;
  if (isValid) return [];
  const what = isLabel ? "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'" : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'";
  return [{ field: 'metadata.name', message: `Invalid value: "${name}": ${what}` }];
}

function labelProblems(field: string, labels: unknown): StatusCause[] {
  return Object.entries((labels ?? {}) as Labels).flatMap(([key, value]) => {
    const problem = labelKeyProblem(key) ?? labelValueProblem(String(value));
    return problem === undefined ? [] : [{ field, message: `Invalid value: "${key}": ${problem}` }];
  });
}

function selectorProblems(spec: Record<string, unknown>): StatusCause[] {
  const matchLabels = (spec.selector as { matchLabels?: Labels } | undefined)?.matchLabels;
  if (matchLabels === undefined || Object.keys(matchLabels).length === 0) return [{ field: 'spec.selector', message: 'Required value' }];
  const template = spec.template as { metadata?: { labels?: Labels } } | undefined;
  const labels = template?.metadata?.labels ?? {};
  const isMatched = Object.entries(matchLabels).every(([key, value]) => labels[key] === value);
  return isMatched ? [] : [{ field: 'spec.template.metadata.labels', message: `Invalid value: ${JSON.stringify(labels)}: \`selector\` does not match template \`labels\`` }];
}

function deploymentProblems(spec: Record<string, unknown>): StatusCause[] {
  const containers = (spec.template as { spec?: { containers?: unknown[] } } | undefined)?.spec?.containers;
  const problems = selectorProblems(spec);
  if (!Array.isArray(containers) || containers.length === 0) problems.push({ field: 'spec.template.spec.containers', message: 'Required value' });
  const replicas = spec.replicas;
  if (replicas !== undefined && (!Number.isInteger(replicas) || (replicas as number) < 0)) problems.push({ field: 'spec.replicas', message: `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0` });
  return problems;
}

function serviceProblems(spec: Record<string, unknown>): StatusCause[] {
  const ports = spec.ports;
  const isHeadless = spec.clusterIP === 'None';
  const hasPorts = Array.isArray(ports) && ports.length > 0;
  if (!hasPorts && !isHeadless && spec.type !== 'ExternalName') return [{ field: 'spec.ports', message: 'Required value' }];
  return ((ports ?? []) as { port?: unknown }[]).flatMap((port, index) =>
    Number.isInteger(port.port) && (port.port as number) > 0 && (port.port as number) <= 65535
      ? []
      : [{ field: `spec.ports[${index}].port`, message: `Invalid value: ${String(port.port)}: must be between 1 and 65535, inclusive` }],
  );
}

/** Why kube-apiserver would refuse this built-in object; empty when it would accept it. */
export function builtInProblems(resource: ServedResource, object: KubeObject): StatusCause[] {
  const spec = (object.spec ?? {}) as Record<string, unknown>;
  const problems = [
    ...nameProblems(resource, object.metadata.name),
    ...labelProblems('metadata.labels', object.metadata.labels),
  ];
  if (resource.plural === 'deployments') problems.push(...deploymentProblems(spec));
  if (resource.plural === 'services') problems.push(...serviceProblems(spec));
  return problems;
}

let nextClusterIp = 10;

/** Server-set fields: a Namespace's own name label and phase, a Service's clusterIP, a Deployment's replicas. */
export function withDefaults(resource: ServedResource, object: KubeObject, previous: KubeObject | undefined): KubeObject {
  const result = structuredClone(object);
  const spec = (result.spec ?? {}) as Record<string, unknown>;
  if (resource.plural === 'namespaces') {
    // Since Kubernetes 1.21 every Namespace carries this immutable label.
    result.metadata.labels = { ...((result.metadata.labels ?? {}) as Labels), 'kubernetes.io/metadata.name': String(result.metadata.name) };
    result.spec = { finalizers: ['kubernetes'], ...spec };
    result.status = { phase: 'Active' };
  }
  if (resource.plural === 'services') {
    const previousIp = (previous?.spec as { clusterIP?: string } | undefined)?.clusterIP;
    spec.type ??= 'ClusterIP';
    spec.sessionAffinity ??= 'None';
    if (spec.type !== 'ExternalName') spec.clusterIP ??= previousIp ?? `10.96.0.${nextClusterIp++ % 250}`;
    result.spec = spec;
  }
  if (resource.plural === 'deployments') {
    spec.replicas ??= 1;
    spec.revisionHistoryLimit ??= 10;
    spec.progressDeadlineSeconds ??= 600;
    result.spec = spec;
  }
  return result;
}
