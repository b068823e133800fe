/**
 * SOL013 §5.3 attribute selectors on list queries, top-level attributes only: lists leave out the
 * complex attributes (vnflcm_view _EXCLUDE_DEFAULT) unless `all_fields`, `fields` or
 * `exclude_fields` say otherwise. Single-resource GETs always answer in full.
 */
export function selectAttributes(view: Record<string, unknown>, query: URLSearchParams, defaultExclude: string[]): Record<string, unknown> {
  if (query.has('all_fields')) return view;
  const fields = query.get('fields')?.split(',');
  const excludeFields = query.get('exclude_fields')?.split(',');
  const excluded = excludeFields ?? defaultExclude.filter((name) => !(fields ?? []).includes(name));
  return Object.fromEntries(Object.entries(view).filter(([key]) => !excluded.includes(key)));
}

export const V2_INSTANCE_EXCLUDE_DEFAULT = ['vnfConfigurableProperties', 'vimConnectionInfo', 'instantiatedVnfInfo', 'metadata', 'extensions'];
export const LCM_OP_OCC_EXCLUDE_DEFAULT = ['operationParams', 'error', 'resourceChanges', 'changedInfo', 'changedExtConnectivity'];
