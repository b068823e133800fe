import { isRecord } from './lcm-engine.js';

/**
 * SOL013 §5.2 attribute-based filtering for list queries (`filter=(eq,operationState,COMPLETED)`),
 * as vnflcm_view.BaseViewBuilder.parse_filter reads it: expressions joined by `;`, attribute paths
 * with `/`, quoted values with `''` for a quote. Values compare as strings, numbers or booleans.
 */
interface FilterExpression {
  op: string;
  path: string[];
  values: string[];
}

const OPERATORS = new Set(['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'cont', 'ncont']);
const SINGLE_VALUE = new Set(['eq', 'neq', 'gt', 'gte', 'lt', 'lte']);
const EXPRESSION = /^\(([a-z]+),([^,()]+)((?:,(?:'(?:[^']|'')*'|[^',()]+))+)\)/;
const VALUE = /,('(?:[^']|'')*'|[^',()]+)/g;

export class InvalidAttributeFilterError extends Error {}

export function parseAttributeFilter(text: string): FilterExpression[] {
  const expressions: FilterExpression[] = [];
  let rest = text;
  while (rest.length > 0) {
    const { expression, length } = parseExpression(rest);
    expressions.push(expression);
    rest = rest.slice(length);
    if (rest.length > 0 && !rest.startsWith(';')) throw new InvalidAttributeFilterError('filter parse error. semicolon expected.');
    rest = rest.slice(1);
  }
  return expressions;
}

function parseExpression(text: string): { expression: FilterExpression; length: number } {
  const match = EXPRESSION.exec(text);
  if (match === null) throw new InvalidAttributeFilterError('filter parse error');
  const [whole, op = '', attr = '', valueText = ''] = match;
  if (!OPERATORS.has(op)) throw new InvalidAttributeFilterError(`Invalid op ${op}`);
  const values = [...valueText.matchAll(VALUE)].map((value) => unquote(value[1] ?? ''));
  if (values.length > 1 && SINGLE_VALUE.has(op)) throw new InvalidAttributeFilterError(`Only one value is allowed for op ${op}`);
  return { expression: { op, path: attr.split('/'), values }, length: whole.length };
}

function unquote(value: string): string {
  return value.startsWith("'") ? value.slice(1, -1).replace(/''/g, "'") : value;
}

export function matchesAttributeFilter(item: Record<string, unknown>, expressions: FilterExpression[]): boolean {
  return expressions.every((expression) => matchesExpression(item, expression));
}

function matchesExpression(item: Record<string, unknown>, expression: FilterExpression): boolean {
  let value: unknown = item;
  for (const key of expression.path) {
    if (!isRecord(value) || !(key in value)) return false;
    value = value[key];
  }
  const candidates = Array.isArray(value) ? value : [value];
  return candidates.some((candidate) => compare(expression.op, candidate, expression.values));
}

function coerce(candidate: unknown, value: string): unknown {
  if (typeof candidate === 'number') return Number(value);
  if (typeof candidate === 'boolean') return value === 'true';
  return value;
}

function compare(op: string, candidate: unknown, values: string[]): boolean {
  const typed = values.map((value) => coerce(candidate, value));
  const first = typed[0] as string | number;
  const ordered = candidate as string | number;
  const comparisons: Record<string, () => boolean> = {
    eq: () => candidate === first,
    neq: () => candidate !== first,
    in: () => typed.includes(candidate),
    nin: () => !typed.includes(candidate),
    gt: () => ordered > first,
    gte: () => ordered >= first,
    lt: () => ordered < first,
    lte: () => ordered <= first,
    cont: () => typeof candidate === 'string' && values.some((value) => candidate.includes(value)),
    ncont: () => !(typeof candidate === 'string' && values.some((value) => candidate.includes(value))),
  };
  return comparisons[op]?.() ?? false;
}
