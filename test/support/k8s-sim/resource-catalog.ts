/**
 * What the simulator serves, as discovery documents describe it: one entry per resource. Discovery,
 * routing, authorization and validation all read this table, so a resource is added in one place.
 */

export interface ServedResource {
  group: string;
  version: string;
  /** Plural, as in URLs and RBAC rules. */
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  /** The verbs the simulator really serves for it (a real server also lists watch/deletecollection). */
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
  /** A custom resource: validated against ../shared/istio/crds.yaml; list items carry apiVersion/kind. */
  isCustom: boolean;
  /** Kinds whose metadata.generation counts spec changes (Deployments, every custom resource). */
  hasGeneration: boolean;
  /** Extra discovery entries for subresources (`serviceaccounts/token`, `…/status`). */
  subresources?: { name: string; kind: string; verbs: string[]; group?: string; version?: string }[];
}

const ALL_VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update'];
const ISTIO_CATEGORIES = { 'networking.istio.io': ['istio-io', 'networking-istio-io'], 'security.istio.io': ['istio-io', 'security-istio-io'] };

function core(plural: string, kind: string, extra: Partial<ServedResource> = {}): ServedResource {
  return { group: '', version: 'v1', plural, singular: kind.toLowerCase(), kind, namespaced: true, verbs: ALL_VERBS, isCustom: false, hasGeneration: false, ...extra };
}

function istio(group: 'networking.istio.io' | 'security.istio.io', plural: string, kind: string, shortNames: string[]): ServedResource {
  return {
    group,
    version: 'v1',
    plural,
    singular: kind.toLowerCase(),
    kind,
    namespaced: true,
    verbs: ALL_VERBS,
    shortNames,
    categories: ISTIO_CATEGORIES[group],
    isCustom: true,
    hasGeneration: true,
    subresources: [{ name: `${plural}/status`, kind, verbs: ['get', 'patch', 'update'] }],
  };
}

export const SERVED_RESOURCES: ServedResource[] = [
  core('configmaps', 'ConfigMap', { shortNames: ['cm'] }),
  core('namespaces', 'Namespace', { namespaced: false, shortNames: ['ns'] }),
  // Pods come from the Deployment controller only; clients read and delete them.
  core('pods', 'Pod', { verbs: ['delete', 'get', 'list'], shortNames: ['po'], categories: ['all'] }),
  core('serviceaccounts', 'ServiceAccount', {
    shortNames: ['sa'],
    subresources: [{ name: 'serviceaccounts/token', kind: 'TokenRequest', verbs: ['create'], group: 'authentication.k8s.io', version: 'v1' }],
  }),
  core('services', 'Service', { shortNames: ['svc'], categories: ['all'] }),
  {
    group: 'apps',
    version: 'v1',
    plural: 'deployments',
    singular: 'deployment',
    kind: 'Deployment',
    namespaced: true,
    verbs: ALL_VERBS,
    shortNames: ['deploy'],
    categories: ['all'],
    isCustom: false,
    hasGeneration: true,
  },
  istio('networking.istio.io', 'destinationrules', 'DestinationRule', ['dr']),
  istio('networking.istio.io', 'virtualservices', 'VirtualService', ['vs']),
  istio('networking.istio.io', 'workloadentries', 'WorkloadEntry', ['we']),
  istio('networking.istio.io', 'workloadgroups', 'WorkloadGroup', ['wg']),
  istio('security.istio.io', 'authorizationpolicies', 'AuthorizationPolicy', ['ap']),
  istio('security.istio.io', 'peerauthentications', 'PeerAuthentication', ['pa']),
];

/** Every plural the simulator stores. */
export type SimResource =
  | 'configmaps'
  | 'namespaces'
  | 'pods'
  | 'serviceaccounts'
  | 'services'
  | 'deployments'
  | 'destinationrules'
  | 'virtualservices'
  | 'workloadentries'
  | 'workloadgroups'
  | 'authorizationpolicies'
  | 'peerauthentications';

export function apiVersionOf(resource: { group: string; version: string }): string {
  return resource.group === '' ? resource.version : `${resource.group}/${resource.version}`;
}

export function findResource(group: string, version: string, plural: string): ServedResource | undefined {
  return SERVED_RESOURCES.find((resource) => resource.group === group && resource.version === version && resource.plural === plural);
}

export function resourceByPlural(plural: string): ServedResource {
  const resource = SERVED_RESOURCES.find((candidate) => candidate.plural === plural);
  if (resource === undefined) throw new Error(`the simulator serves no resource ${plural}`);
  return resource;
}

/** Built-in groups first, then custom ones, as kube-apiserver's aggregated /apis lists them. */
const GROUP_ORDER = ['apps', 'networking.istio.io', 'security.istio.io'];

function resourceList(group: string, version: string): unknown {
  const resources = SERVED_RESOURCES.filter((resource) => resource.group === group && resource.version === version)
    .flatMap((resource) => [
      {
        name: resource.plural,
        singularName: resource.singular,
        namespaced: resource.namespaced,
        kind: resource.kind,
        verbs: resource.verbs,
        ...(resource.shortNames === undefined ? {} : { shortNames: resource.shortNames }),
        ...(resource.categories === undefined ? {} : { categories: resource.categories }),
      },
      ...(resource.subresources ?? []).map((sub) => ({ singularName: '', namespaced: resource.namespaced, ...sub })),
    ])
    .sort((a, b) => a.name.localeCompare(b.name));
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf({ group, version }), resources };
}

function apiGroup(name: string): Record<string, unknown> {
  const groupVersion = { groupVersion: `${name}/v1`, version: 'v1' };
  return { name, versions: [groupVersion], preferredVersion: groupVersion };
}

/** The discovery document served at `path`, if it is one. */
export function discoveryDocument(path: string): unknown {
  if (path === '/api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] };
  if (path === '/api/v1') return resourceList('', 'v1');
  if (path === '/apis') return { kind: 'APIGroupList', apiVersion: 'v1', groups: GROUP_ORDER.map(apiGroup) };
  const match = /^\/apis\/([^/]+)(?:\/(v1))?$/.exec(path);
  if (match === null || !GROUP_ORDER.includes(match[1] as string)) return undefined;
  return match[2] === undefined ? { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(match[1] as string) } : resourceList(match[1] as string, 'v1');
}
