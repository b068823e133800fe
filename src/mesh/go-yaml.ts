import { Document, isScalar, parse, visit, Scalar, type Pair } from 'yaml';

/**
 * istioctl writes mesh.yaml with sigs.k8s.io/yaml (go-yaml v2). To be byte-identical we follow its
 * quoting rule: a string that would read back as another YAML 1.1 type ("true", "", "15012", "N")
 * is double-quoted; one that is merely not plain-safe ("*", "{...}", "a: b") is single-quoted;
 * maps are sorted with go-yaml v2's key order and sequences are not indented.
 */
export function stringifyLikeGoYaml(value: unknown): string {
  const doc = new Document(value, { version: '1.1', sortMapEntries: compareGoYamlPairs });
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && readsAsAnotherType(node.value)) node.type = Scalar.QUOTE_DOUBLE;
    },
    Pair(_key, pair) {
      if (isScalar(pair.key) && typeof pair.key.value === 'string' && readsAsAnotherType(pair.key.value)) {
        pair.key.type = Scalar.QUOTE_DOUBLE;
      }
    },
  });
  return doc.toString({ lineWidth: 0, indentSeq: false, singleQuote: true, defaultStringType: 'PLAIN' });
}

/**
 * Answers by scalar text. Deciding takes a YAML parse, and each bundle and manifest asks it for
 * the same few hundred keys and values: uncached, this was most of the CPU an injection costs.
 */
const readsAsAnotherTypeCache = new Map<string, boolean>();
const READS_AS_ANOTHER_TYPE_CACHE_MAX = 10_000;

function readsAsAnotherType(text: string): boolean {
  const cached = readsAsAnotherTypeCache.get(text);
  if (cached !== undefined) return cached;
  const answer = resolvesToAnotherType(text);
  if (readsAsAnotherTypeCache.size >= READS_AS_ANOTHER_TYPE_CACHE_MAX) readsAsAnotherTypeCache.clear();
  readsAsAnotherTypeCache.set(text, answer);
  return answer;
}

function resolvesToAnotherType(text: string): boolean {
  if (text === '' || text.includes('\n')) return text === '';
  try {
    const value: unknown = parse(text, { version: '1.1' });
    // Only scalar resolution counts: go-yaml v2 never reads a plain scalar as a map or a list.
    return value === null || ['number', 'boolean', 'bigint'].includes(typeof value) || value instanceof Date;
  } catch {
    return false;
  }
}

function compareGoYamlPairs(a: Pair, b: Pair): number {
  const left = String(isScalar(a.key) ? a.key.value : a.key);
  const right = String(isScalar(b.key) ? b.key.value : b.key);
  return compareGoYamlKeys(left, right);
}

const isLetter = (char: string): boolean => /\p{L}/u.test(char);
const isDigit = (char: string): boolean => char >= '0' && char <= '9';

/**
 * go-yaml v2's keyList.Less: at the first differing character, letters compare by code point, a
 * non-letter sorts before a letter, and runs of digits compare as numbers ("a2" < "a10").
 * So ISTIO_META_CLUSTER_ID precedes ISTIO_METAJSON_LABELS, unlike byte order.
 */
export function compareGoYamlKeys(a: string, b: string): number {
  const left = [...a];
  const right = [...b];
  const index = left.findIndex((char, i) => i < right.length && char !== right[i]);
  if (index < 0) return left.length - right.length;
  return compareAtDifference(left, right, index);
}

function compareAtDifference(left: string[], right: string[], index: number): number {
  const l = left[index] as string;
  const r = right[index] as string;
  const lLetter = isLetter(l);
  const rLetter = isLetter(r);
  if (lLetter && rLetter) return codePoint(l) - codePoint(r);
  if (lLetter || rLetter) return lLetter ? 1 : -1;
  return compareDigitRuns(left, right, index);
}

/**
 * Numbers compare by value; go-yaml prefixes a "1" when a zero follows a non-zero digit run, so
 * "10" and "1" + "0…" do not collide. Equal values: the shorter run, then the character, first.
 */
function compareDigitRuns(left: string[], right: string[], start: number): number {
  const carry = (left[start] === '0' || right[start] === '0') && precededByNonZeroDigit(left, start);
  const leftRun = digitRun(left, start);
  const rightRun = digitRun(right, start);
  const leftValue = runValue(leftRun, carry);
  const rightValue = runValue(rightRun, carry);
  if (leftValue !== rightValue) return leftValue < rightValue ? -1 : 1;
  if (leftRun.length !== rightRun.length) return leftRun.length - rightRun.length;
  return codePoint(left[start] ?? '') - codePoint(right[start] ?? '');
}

function runValue(digits: string, carry: boolean): bigint {
  const value = digits === '' ? 0n : BigInt(digits);
  return carry ? 10n ** BigInt(digits.length) + value : value;
}

function codePoint(char: string): number {
  return char.codePointAt(0) ?? 0;
}

function digitRun(chars: string[], start: number): string {
  let end = start;
  while (end < chars.length && isDigit(chars[end] as string)) end++;
  return chars.slice(start, end).join('');
}

function precededByNonZeroDigit(chars: string[], index: number): boolean {
  for (let j = index - 1; j >= 0 && isDigit(chars[j] as string); j--) {
    if (chars[j] !== '0') return true;
  }
  return false;
}
