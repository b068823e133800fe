import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Tacker v2 "instantiate completed" notifications for the intake benchmark, one per index. */
const template = JSON.parse(readFileSync(new URL('../../src/tacker/testdata/v2-instantiate-completed.json', import.meta.url), 'utf8')) as Record<string, unknown>;

/** Every tenth notification repeats the operation before it (a duplicate delivery): those must be as cheap. */
export function operationOf(index: number, prefix = 'op'): string {
  return `${prefix}-${index % 10 === 9 ? index - 1 : index}`;
}

export function notificationBody(index: number, prefix: string): string {
  return JSON.stringify({ ...template, id: randomUUID(), vnfLcmOpOccId: operationOf(index, prefix), vnfInstanceId: `vnf-${index % 50}` });
}

export function body(index: number): string {
  return notificationBody(index, 'op');
}
