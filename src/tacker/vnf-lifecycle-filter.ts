/**
 * SOL 013 §5.2 attribute-based filters, written so that no value can change the expression's
 * shape. Tacker's reader (tacker/sol_refactored/controller/vnflcm_view.py BaseViewBuilder) takes an
 * unquoted value as `[^',)]+` and a quoted one as `('[^']*')+`, with `''` standing for one quote;
 * attribute names unescape `~1` to `/`, `~a` to `,`, `~b` to `@` and then `~0` to `~`.
 */

/** Characters that end or reshape an unquoted value; `(` and `;` are quoted too, as stricter readers refuse them. */
const NEEDS_QUOTES = /[,')(;]/;

/** `(eq,vnfInstanceName,shop-catalog-vm)`; `attribute` is a path of names, `['metadata', 'tenant']` for `metadata/tenant`. */
export function buildEqFilter(attribute: string | string[], value: string): string {
  const path = (typeof attribute === 'string' ? [attribute] : attribute).map(escapeAttributeName).join('/');
  return `(eq,${path},${quoteFilterValue(value)})`;
}

/** The value as SOL 013 wants it: bare when that is unambiguous, else in single quotes with quotes doubled. */
export function quoteFilterValue(value: string): string {
  if (value !== '' && !NEEDS_QUOTES.test(value)) return value;
  return `'${value.replaceAll("'", "''")}'`;
}

function escapeAttributeName(name: string): string {
  return name.replaceAll('~', '~0').replaceAll('/', '~1').replaceAll(',', '~a').replaceAll('@', '~b');
}
