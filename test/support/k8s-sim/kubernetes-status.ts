/** The `Status` object kube-apiserver answers every error with (k8s.io/apimachinery/pkg/api/errors). */
export interface StatusCause {
  reason?: string;
  message: string;
  field?: string;
}

export interface KubernetesStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  details?: { name?: string; group?: string; kind?: string; causes?: StatusCause[] };
  code: number;
}

export interface ResourceRef {
  group: string;
  /** Plural resource name, e.g. `workloadentries`. */
  resource: string;
  name: string;
}

const qualified = (ref: ResourceRef): string => (ref.group === '' ? ref.resource : `${ref.resource}.${ref.group}`);

export function failure(code: number, reason: string, message: string, details?: KubernetesStatus['details']): KubernetesStatus {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details === undefined ? {} : { details }), code };
}

export function notFound(ref: ResourceRef): KubernetesStatus {
  return failure(404, 'NotFound', `${qualified(ref)} "${ref.name}" not found`, { name: ref.name, group: ref.group, kind: ref.resource });
}

export function alreadyExists(ref: ResourceRef): KubernetesStatus {
  return failure(409, 'AlreadyExists', `${qualified(ref)} "${ref.name}" already exists`, { name: ref.name, group: ref.group, kind: ref.resource });
}

export function staleUpdate(ref: ResourceRef): KubernetesStatus {
  return failure(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(ref)} "${ref.name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name: ref.name, group: ref.group, kind: ref.resource },
  );
}

export function invalid(ref: ResourceRef & { kind: string }, causes: StatusCause[]): KubernetesStatus {
  const summary = causes.map((cause) => (cause.field === undefined ? cause.message : `${cause.field}: ${cause.message}`)).join(', ');
  const qualifiedKind = ref.group === '' ? ref.kind : `${ref.kind}.${ref.group}`;
  return failure(422, 'Invalid', `${qualifiedKind} "${ref.name}" is invalid: ${summary}`, {
    name: ref.name,
    group: ref.group,
    kind: ref.kind,
    causes: causes.map((cause) => ({ reason: 'FieldValueInvalid', ...cause })),
  });
}

export interface ForbiddenInput {
  user: string;
  verb: string;
  ref: ResourceRef & { subresource?: string };
  namespace: string;
}

export function forbidden(input: ForbiddenInput): KubernetesStatus {
  const { ref } = input;
  const resource = ref.subresource === undefined ? ref.resource : `${ref.resource}/${ref.subresource}`;
  const name = ref.name === '' ? '' : ` "${ref.name}"`;
  const scope = input.namespace === '' ? 'at the cluster scope' : `in the namespace "${input.namespace}"`;
  return failure(
    403,
    'Forbidden',
    `${qualified(ref)}${name} is forbidden: User "${input.user}" cannot ${input.verb} resource "${resource}" in API group "${ref.group}" ${scope}`,
    { ...(ref.name === '' ? {} : { name: ref.name }), group: ref.group, kind: ref.resource },
  );
}

/** What creating in a namespace that does not exist answers (the NamespaceLifecycle admission plugin). */
export function namespaceNotFound(namespace: string): KubernetesStatus {
  return failure(404, 'NotFound', `namespaces "${namespace}" not found`, { name: namespace, kind: 'namespaces' });
}

export const unauthorized = (): KubernetesStatus => failure(401, 'Unauthorized', 'Unauthorized');

/** Thrown inside the simulator to answer with a Status object. */
export class StatusError extends Error {
  constructor(readonly status: KubernetesStatus) {
    super(status.message);
  }
}
