import { z } from 'zod';
import { AppError } from '../errors.js';
import { OPENSTACK_ERROR_CODES } from './openstack-errors.js';

/** Service types as the Service Types Authority names them; Tacker registers `nfv-orchestration`. */
export const SERVICE_TYPES = { compute: 'compute', network: 'network', tacker: 'nfv-orchestration', identity: 'identity' } as const;

export type EndpointInterface = 'public' | 'internal' | 'admin';

const endpointSchema = z.object({
  id: z.string().optional(),
  interface: z.string(),
  /** `region` is deprecated in favour of `region_id`; Keystone still sends both. */
  region: z.string().nullable().optional(),
  region_id: z.string().nullable().optional(),
  url: z.string(),
});

export const catalogEntrySchema = z.object({
  id: z.string().optional(),
  type: z.string(),
  name: z.string().optional(),
  endpoints: z.array(endpointSchema).default([]),
});

export type CatalogEntry = z.infer<typeof catalogEntrySchema>;

export interface EndpointQuery {
  type: string;
  interface: EndpointInterface;
  /** Absent: any region, as long as they all agree on one URL. */
  region?: string;
}

/** What the catalog offers, one line per endpoint, for errors an operator can act on. */
export interface OfferedEndpoint {
  type: string;
  name?: string;
  interface: string;
  region?: string;
}

function regionOf(endpoint: z.infer<typeof endpointSchema>): string | undefined {
  return endpoint.region_id ?? endpoint.region ?? undefined;
}

/**
 * The one URL for a service type, interface and region. Several services of one type, or one
 * service in several regions with no region configured, is ambiguous and refused: silently taking
 * the first would send requests to whichever region Keystone happens to list first.
 */
export function selectEndpoint(catalog: CatalogEntry[], query: EndpointQuery): string {
  const urls = new Set<string>();
  for (const entry of catalog.filter((candidate) => candidate.type === query.type)) {
    for (const endpoint of entry.endpoints) {
      if (endpoint.interface !== query.interface) continue;
      if (query.region !== undefined && regionOf(endpoint) !== query.region) continue;
      urls.add(endpoint.url);
    }
  }
  const [only, ...others] = [...urls];
  if (only !== undefined && others.length === 0) return only;
  throw catalogError(catalog, query, urls.size);
}

function catalogError(catalog: CatalogEntry[], query: EndpointQuery, matches: number): AppError {
  const offered = offeredEndpoints(catalog);
  const wanted = `${query.type} endpoint with interface ${query.interface}${query.region === undefined ? '' : ` in region ${query.region}`}`;
  const problem = matches === 0 ? `has no ${wanted}` : `has ${matches} different URLs for the ${wanted}; configure a region`;
  const listing = offered.length === 0 ? 'It is empty; is the credential scoped to a project?' : `It offers: ${describeOffered(offered)}.`;
  return new AppError(OPENSTACK_ERROR_CODES.misconfigured, `The Keystone service catalog ${problem}. ${listing}`, {
    details: { wanted: { ...query }, offered },
  });
}

export function offeredEndpoints(catalog: CatalogEntry[]): OfferedEndpoint[] {
  return catalog.flatMap((entry) =>
    entry.endpoints.map((endpoint) => {
      const region = regionOf(endpoint);
      return { type: entry.type, ...(entry.name === undefined ? {} : { name: entry.name }), interface: endpoint.interface, ...(region === undefined ? {} : { region }) };
    }),
  );
}

/** `compute (nova): public@RegionOne, internal@RegionOne; network (neutron): public@RegionOne` */
function describeOffered(offered: OfferedEndpoint[]): string {
  const byService = new Map<string, string[]>();
  for (const endpoint of offered) {
    const service = endpoint.name === undefined ? endpoint.type : `${endpoint.type} (${endpoint.name})`;
    const list = byService.get(service) ?? [];
    list.push(endpoint.region === undefined ? endpoint.interface : `${endpoint.interface}@${endpoint.region}`);
    byService.set(service, list);
  }
  return [...byService.entries()].map(([service, list]) => `${service}: ${list.join(', ')}`).join('; ');
}
