import { isRecord } from './lcm-engine.js';
import type { SimSubscription, SimVnfInstance, SimVnfd } from './vnf-model.js';

export interface NotificationSubject {
  notificationType: 'VnfLcmOperationOccurrenceNotification' | 'VnfIdentifierCreationNotification' | 'VnfIdentifierDeletionNotification';
  /** Only for VnfLcmOperationOccurrenceNotification. */
  operation?: string;
  operationState?: string;
}

export interface InstanceFacts {
  instance: SimVnfInstance;
  vnfd: SimVnfd;
}

function listOf(filter: Record<string, unknown>, key: string): unknown[] | undefined {
  const value = filter[key];
  return Array.isArray(value) ? value : undefined;
}

function excludes(list: unknown[] | undefined, value: string | undefined): boolean {
  return value !== undefined && list !== undefined && !list.includes(value);
}

/**
 * v2's subscription_utils.get_matched_subscs: the instance filter, then notificationTypes, then
 * operationTypes and operationStates (the latter two only for operation occurrence notifications).
 */
export function matchesV2(subscription: SimSubscription, subject: NotificationSubject, facts: InstanceFacts): boolean {
  const filter = subscription.filter;
  if (filter === undefined) return true;
  const instanceFilter = filter.vnfInstanceSubscriptionFilter;
  if (isRecord(instanceFilter) && !matchesInstanceFilter(instanceFilter, facts)) return false;
  if (excludes(listOf(filter, 'notificationTypes'), subject.notificationType)) return false;
  if (excludes(listOf(filter, 'operationTypes'), subject.operation)) return false;
  return !excludes(listOf(filter, 'operationStates'), subject.operationState);
}

/**
 * v1 picks subscribers in SQL (objects/vnf_lcm_subscriptions._vnf_lcm_subscriptions_get) by
 * notificationTypes and, for operation occurrences, operationTypes only: operationStates and the
 * instance filter are stored but not consulted when sending (then only the tenant is checked).
 */
export function matchesV1(subscription: SimSubscription, subject: NotificationSubject): boolean {
  const filter = subscription.filter ?? {};
  if (excludes(nonEmpty(listOf(filter, 'notificationTypes')), subject.notificationType)) return false;
  return !excludes(nonEmpty(listOf(filter, 'operationTypes')), subject.operation);
}

function nonEmpty(list: unknown[] | undefined): unknown[] | undefined {
  return list === undefined || list.length === 0 ? undefined : list;
}

function matchesInstanceFilter(filter: Record<string, unknown>, facts: InstanceFacts): boolean {
  const { instance } = facts;
  if (excludes(listOf(filter, 'vnfdIds'), instance.vnfdId)) return false;
  if (excludes(listOf(filter, 'vnfInstanceIds'), instance.id)) return false;
  if (listOf(filter, 'vnfInstanceNames') !== undefined && !listOf(filter, 'vnfInstanceNames')?.includes(instance.vnfInstanceName)) return false;
  const providers = listOf(filter, 'vnfProductsFromProviders');
  return providers === undefined || providers.some((entry) => isRecord(entry) && matchesProvider(entry, facts.vnfd));
}

/** subscription_utils.match_products_per_provider and match_version. */
function matchesProvider(entry: Record<string, unknown>, vnfd: SimVnfd): boolean {
  if (entry.vnfProvider !== vnfdProvider(vnfd)) return false;
  const products = listOf(entry, 'vnfProducts');
  if (products === undefined) return true;
  return products.some((product) => isRecord(product) && product.vnfProductName === vnfdProductName(vnfd) && matchesVersions(product, vnfd));
}

function matchesVersions(product: Record<string, unknown>, vnfd: SimVnfd): boolean {
  const versions = listOf(product, 'versions');
  if (versions === undefined) return true;
  return versions.some((version) => {
    if (!isRecord(version) || version.vnfSoftwareVersion !== vnfdSoftwareVersion(vnfd)) return false;
    const vnfdVersions = listOf(version, 'vnfdVersions');
    return vnfdVersions === undefined || vnfdVersions.includes(vnfdVersion(vnfd));
  });
}

export const vnfdProvider = (vnfd: SimVnfd): string => vnfd.vnfProvider ?? 'Company';
export const vnfdProductName = (vnfd: SimVnfd): string => vnfd.vnfProductName ?? 'Sample VNF';
export const vnfdSoftwareVersion = (vnfd: SimVnfd): string => vnfd.vnfSoftwareVersion ?? '1.0';
export const vnfdVersion = (vnfd: SimVnfd): string => vnfd.vnfdVersion ?? '1.0';

/** The package facts a VnfInstance repeats; the simulator's VNFD stands in for the package. */
export function productFields(instance: SimVnfInstance, vnfd: SimVnfd | undefined): Record<string, unknown> {
  return {
    vnfdId: instance.vnfdId,
    vnfProvider: vnfd === undefined ? '' : vnfdProvider(vnfd),
    vnfProductName: vnfd === undefined ? '' : vnfdProductName(vnfd),
    vnfSoftwareVersion: vnfd === undefined ? '' : vnfdSoftwareVersion(vnfd),
    vnfdVersion: vnfd === undefined ? '' : vnfdVersion(vnfd),
  };
}
