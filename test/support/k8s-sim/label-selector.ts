/**
 * Label selectors in the text form the API server accepts in `?labelSelector=`
 * (k8s.io/apimachinery/pkg/labels, Parse): requirements joined by commas (AND), each one of
 * `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (exists) or `!k` (does not exist).
 * `!=` and `notin` also match objects without the key, as upstream's do.
 */

export type LabelRequirement =
  | { key: string; operator: 'in' | 'notin'; values: string[] }
  | { key: string; operator: 'exists' | 'doesnotexist' };

export class LabelSelectorError extends Error {}

const TOKEN = /\s*(!=|==|=|\(|\)|,|!|[^\s!=(),]+)/y;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    const match = TOKEN.exec(text);
    if (match === null) break;
    tokens.push(match[1] as string);
    if (text.slice(TOKEN.lastIndex).trim() === '') break;
  }
  return tokens;
}

class Parser {
  private position = 0;

  constructor(private readonly tokens: string[]) {}

  parse(): LabelRequirement[] {
    const requirements: LabelRequirement[] = [];
    while (this.position < this.tokens.length) {
      requirements.push(this.requirement());
      const next = this.take();
      if (next !== undefined && next !== ',') throw new LabelSelectorError(`found '${next}', expected: ',' or 'end of string'`);
    }
    return requirements;
  }

  private take(): string | undefined {
    const token = this.tokens[this.position];
    this.position += 1;
    return token;
  }

  private peek(): string | undefined {
    return this.tokens[this.position];
  }

  private requirement(): LabelRequirement {
    if (this.peek() === '!') {
      this.take();
      return { key: this.key(), operator: 'doesnotexist' };
    }
    const key = this.key();
    const operator = this.peek();
    if (operator === undefined || operator === ',') return { key, operator: 'exists' };
    this.take();
    if (operator === '=' || operator === '==') return { key, operator: 'in', values: [this.value()] };
    if (operator === '!=') return { key, operator: 'notin', values: [this.value()] };
    if (operator === 'in' || operator === 'notin') return { key, operator, values: this.set() };
    throw new LabelSelectorError(`found '${operator}', expected: in, notin, =, ==, !=, gt, lt`);
  }

  private key(): string {
    const key = this.take();
    if (key === undefined || !KEY.test(key)) throw new LabelSelectorError(`invalid label key "${key ?? ''}"`);
    return key;
  }

  private value(): string {
    const next = this.peek();
    const value = next === undefined || next === ',' ? '' : (this.take() as string);
    if (!VALUE.test(value) || value.length > 63) throw new LabelSelectorError(`invalid label value: "${value}"`);
    return value;
  }

  private set(): string[] {
    if (this.take() !== '(') throw new LabelSelectorError(`found '${this.tokens[this.position - 1] ?? ''}', expected: '('`);
    const values: string[] = [];
    for (;;) {
      const token = this.take();
      if (token === ')') return values;
      if (token === ',') continue;
      if (token === undefined) throw new LabelSelectorError("found 'end of string', expected: ')'");
      if (!VALUE.test(token)) throw new LabelSelectorError(`invalid label value: "${token}"`);
      values.push(token);
    }
  }
}

/** Throws LabelSelectorError with upstream's wording for a selector the API server refuses. */
export function parseLabelSelector(text: string): LabelRequirement[] {
  if (text.trim() === '') return [];
  return new Parser(tokenize(text)).parse();
}

export function matchesLabelSelector(requirements: LabelRequirement[], labels: Record<string, string> | undefined): boolean {
  const present = labels ?? {};
  return requirements.every((requirement) => {
    const has = Object.hasOwn(present, requirement.key);
    switch (requirement.operator) {
      case 'exists':
        return has;
      case 'doesnotexist':
        return !has;
      case 'in':
        return has && requirement.values.includes(present[requirement.key] as string);
      case 'notin':
        return !has || !requirement.values.includes(present[requirement.key] as string);
    }
  });
}
