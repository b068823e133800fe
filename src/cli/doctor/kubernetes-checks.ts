import type { KubeConfig, V1ResourceAttributes } from '@kubernetes/client-node';
import type { Config } from '../../config.js';
import { boundedCall } from '../../mesh/kubernetes/kube-config.js';
import { callKubernetes } from '../../mesh/kubernetes/kubernetes-errors.js';
import { check, failedCheck, type CheckResult } from './doctor-check.js';
import type { ServerDate } from './clock-skew-check.js';

/** One permission the configured service uses, with the reason an operator reads when it is missing. */
export interface RequiredAccess {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  why: string;
}

export interface AccessScope {
  /** Namespaces that hold VMs (WorkloadGroups, service accounts). */
  workloadNamespaces: string[];
  istioNamespace: string;
}

const ISTIO_NETWORKING = 'networking.istio.io';

function credentialAccess(scope: AccessScope): RequiredAccess[] {
  return [
    ...scope.workloadNamespaces.flatMap((namespace) => [
      { verb: 'get', group: '', resource: 'configmaps', namespace, name: 'istio-ca-root-cert', why: 'the mesh root certificate' },
      { verb: 'create', group: '', resource: 'serviceaccounts', subresource: 'token', namespace, why: 'bootstrap tokens (TokenRequest)' },
    ]),
    { verb: 'get', group: '', resource: 'configmaps', namespace: scope.istioNamespace, name: 'istio', why: 'the mesh config' },
    { verb: 'get', group: '', resource: 'configmaps', namespace: scope.istioNamespace, name: 'istio-sidecar-injector', why: "istiod's cluster ID" },
    { verb: 'get', group: '', resource: 'services', namespace: scope.istioNamespace, why: "the east-west gateway's address" },
  ];
}

function registryAccess(scope: AccessScope): RequiredAccess[] {
  return scope.workloadNamespaces.flatMap((namespace) => [
    ...['get', 'create'].map((verb) => ({ verb, group: ISTIO_NETWORKING, resource: 'workloadgroups', namespace, why: 'WorkloadGroups' })),
    ...['get', 'create', 'patch', 'delete'].map((verb) => ({ verb, group: ISTIO_NETWORKING, resource: 'workloadentries', namespace, why: 'WorkloadEntries' })),
  ]);
}

/** deploy/orchestrator-rbac.yaml: the orchestrator works in namespaces it creates, so cluster-wide. */
function orchestratorAccess(): RequiredAccess[] {
  const resources: Array<[string, string, string]> = [
    ['', 'namespaces', 'one namespace per service'],
    ['', 'serviceaccounts', "workloads' identities"],
    ['', 'services', 'Kubernetes Services'],
    ['apps', 'deployments', 'container microservices'],
    [ISTIO_NETWORKING, 'virtualservices', 'routing'],
    [ISTIO_NETWORKING, 'destinationrules', 'subsets and traffic policy'],
    ['security.istio.io', 'peerauthentications', 'mTLS mode'],
    ['security.istio.io', 'authorizationpolicies', 'allowed callers'],
  ];
  return resources.flatMap(([group, resource, why]) => ['get', 'create', 'patch', 'delete'].map((verb) => ({ verb, group, resource, why: `orchestrator: ${why}` })));
}

/** What the configured features need, in the namespaces they work in. */
export function requiredAccess(config: Config, scope: AccessScope): RequiredAccess[] {
  return [
    ...(config.mesh.credentials.kind === 'kubernetes' ? credentialAccess(scope) : []),
    ...(config.registry.kind === 'kubernetes' ? registryAccess(scope) : []),
    ...(config.orchestrator === undefined ? [] : orchestratorAccess()),
  ];
}

function describeAccess(access: RequiredAccess): string {
  const resource = `${access.resource}${access.subresource === undefined ? '' : `/${access.subresource}`}${access.group === '' ? '' : `.${access.group}`}`;
  const name = access.name === undefined ? '' : ` ${access.name}`;
  return `${access.verb} ${resource}${name} in ${access.namespace ?? 'all namespaces'} (${access.why})`;
}

function attributesOf(access: RequiredAccess): V1ResourceAttributes {
  return {
    verb: access.verb,
    group: access.group,
    resource: access.resource,
    ...(access.subresource === undefined ? {} : { subresource: access.subresource }),
    ...(access.namespace === undefined ? {} : { namespace: access.namespace }),
    ...(access.name === undefined ? {} : { name: access.name }),
  };
}

export interface KubernetesFindings {
  check: CheckResult;
  dates: ServerDate[];
}

const TITLE = 'Kubernetes RBAC sufficient';

/**
 * Asks the API server, one SelfSubjectAccessReview per permission, whether the service's own
 * identity may do what its configuration will make it do: RBAC, webhooks and any other authorizer
 * answer together, which reading Roles could not tell.
 */
export async function kubernetesRbacCheck(config: Config, kubeConfig: () => Promise<KubeConfig>, scope: AccessScope, clock: () => number): Promise<KubernetesFindings> {
  const needed = requiredAccess(config, scope);
  if (config.kubernetes === undefined || needed.length === 0) return { check: check('kubernetes-rbac', TITLE, { status: 'info', detail: 'the config uses no Kubernetes API' }), dates: [] };
  try {
    const { AuthorizationV1Api } = await import('@kubernetes/client-node');
    const api = (await kubeConfig()).makeApiClient(AuthorizationV1Api);
    const options = boundedCall(10_000);
    const denied: string[] = [];
    const dates: ServerDate[] = [];
    for (const access of needed) {
      const sentAtMs = clock();
      const answer = await callKubernetes({ operation: 'create SelfSubjectAccessReview', code: 'CREDENTIALS_UNAVAILABLE' }, () =>
        api.createSelfSubjectAccessReviewWithHttpInfo({ body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: attributesOf(access) } } }, options),
      );
      const date = answer.headers.date;
      if (dates.length === 0 && date !== undefined) dates.push({ server: 'Kubernetes', date, sentAtMs, receivedAtMs: clock() });
      if (answer.data.status?.allowed !== true) denied.push(describeAccess(access));
    }
    if (denied.length > 0) {
      const hint = 'Apply deploy/rbac.yaml (and a RoleBinding per workload namespace; deploy/orchestrator-rbac.yaml for the orchestrator) to the identity in the kubeconfig.';
      return { check: check('kubernetes-rbac', TITLE, { status: 'fail', detail: `${denied.length} of ${needed.length} permissions missing`, findings: denied, hint }), dates };
    }
    return { check: check('kubernetes-rbac', TITLE, { status: 'pass', detail: `all ${needed.length} permissions granted (namespaces ${scope.workloadNamespaces.join(', ')}, ${scope.istioNamespace})` }), dates };
  } catch (error) {
    return { check: failedCheck('kubernetes-rbac', TITLE, error, 'Check kubernetes.kubeconfig (or the pod service account) and that the API server is reachable from here.'), dates: [] };
  }
}
