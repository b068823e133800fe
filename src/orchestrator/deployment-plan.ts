import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { stringify } from 'yaml';
import { MANAGED_BY, MANAGED_BY_LABEL } from '../mesh/workload-objects.js';
import { KIND_ORDER, SERVICE_LABEL } from './desired-objects.js';
import { objectKey, type KubeObject } from './kube-object.js';
import { compareText } from './service-descriptor.js';

/**
 * What has to change in a cluster to reach the desired objects: the plan `--dry-run` prints and the
 * deploy step applies.
 *
 * Deciding "changed" needs care: objects read back carry fields the server added (status, uid,
 * managedFields, defaults such as a Service's clusterIP or a container's terminationMessagePath),
 * and a field that was removed from the desired object is invisible if one only looks at the
 * fields the desired object has. So two checks, and an object is unchanged only if both pass:
 * - the applied hash: the plan stamps every object it applies with the sha256 of its canonical
 *   JSON (APPLIED_HASH_ANNOTATION). A different hash means the desired object changed since the
 *   last apply, including fields that were removed. An object without the annotation (applied by
 *   hand or by an older version) counts as changed, and the re-apply stamps it.
 * - drift: the live object projected onto the desired object's shape (only the keys the desired
 *   object has, arrays item by item) must equal it, so a weight edited by hand is put back. Values
 *   the API server rewrites (a quantity 0.5 read back as 500m) show up as drift; write them in
 *   canonical form.
 */

export const APPLIED_HASH_ANNOTATION = 'vmsi.dev/applied-hash';

export interface PlannedUpdate {
  /** The object to apply, stamped with its applied hash. */
  desired: KubeObject;
  live: KubeObject;
  /** Unified diff of live (as far as the orchestrator manages it) → desired, as YAML. */
  diff: string;
}

export interface DeploymentPlan {
  /** Objects to apply that do not exist yet, in apply order, stamped with their applied hash. */
  create: KubeObject[];
  update: PlannedUpdate[];
  /** Live objects carrying the service label that are no longer desired, in reverse apply order. */
  delete: KubeObject[];
  /** objectKey of every desired object that needs nothing. */
  unchanged: string[];
}

export function planChanges(desired: KubeObject[], live: KubeObject[]): DeploymentPlan {
  const liveByKey = new Map(live.map((object) => [objectKey(object), object]));
  const plan: DeploymentPlan = { create: [], update: [], delete: [], unchanged: [] };
  for (const object of desired) {
    const key = objectKey(object);
    const current = liveByKey.get(key);
    if (current === undefined) plan.create.push(withAppliedHash(object));
    else if (isUnchanged(object, current)) plan.unchanged.push(key);
    else plan.update.push({ desired: withAppliedHash(object), live: current, diff: objectDiff(object, current) });
  }
  const desiredKeys = new Set(desired.map((object) => objectKey(object)));
  const owners = new Set(desired.map((object) => object.metadata.labels?.[SERVICE_LABEL]));
  plan.delete = live.filter((object) => !desiredKeys.has(objectKey(object)) && isOurs(object, owners)).sort(compareForDeletion);
  return plan;
}

/** Ours: managed by this product and labelled with the descriptor (any descriptor when nothing is desired, i.e. teardown). */
function isOurs(object: KubeObject, owners: Set<string | undefined>): boolean {
  const labels = object.metadata.labels ?? {};
  const owner = labels[SERVICE_LABEL];
  if (owner === undefined || labels[MANAGED_BY_LABEL] !== MANAGED_BY) return false;
  return owners.size === 0 || owners.has(owner);
}

function kindRank(object: KubeObject): number {
  const rank = KIND_ORDER.indexOf(object.kind as (typeof KIND_ORDER)[number]);
  return rank === -1 ? KIND_ORDER.length : rank;
}

/** Traffic rules go before the workloads they route to, and the namespace last. */
function compareForDeletion(a: KubeObject, b: KubeObject): number {
  return kindRank(b) - kindRank(a) || compareText(objectKey(a), objectKey(b));
}

function isUnchanged(desired: KubeObject, live: KubeObject): boolean {
  const liveHash = live.metadata.annotations?.[APPLIED_HASH_ANNOTATION];
  return liveHash === appliedHash(desired) && isDeepStrictEqual(projection(live, withoutHash(desired)), withoutHash(desired));
}

/** sha256 of the object's canonical JSON (keys sorted), leaving out the hash annotation itself. */
export function appliedHash(object: KubeObject): string {
  return createHash('sha256').update(canonicalJson(withoutHash(object))).digest('hex');
}

export function withAppliedHash(object: KubeObject): KubeObject {
  const annotations = { ...object.metadata.annotations, [APPLIED_HASH_ANNOTATION]: appliedHash(object) };
  return { ...object, metadata: { ...object.metadata, annotations } };
}

function withoutHash(object: KubeObject): KubeObject {
  const { annotations: all, ...metadata } = object.metadata;
  const annotations = Object.fromEntries(Object.entries(all ?? {}).filter(([key]) => key !== APPLIED_HASH_ANNOTATION));
  return { ...object, metadata: Object.keys(annotations).length === 0 ? metadata : { ...metadata, annotations } };
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(sortedKeys(value));
}

function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .sort(([a], [b]) => compareText(a, b))
      .map(([key, inner]) => [key, sortedKeys(inner)]),
  );
}

/**
 * The live value cut down to the shape of the desired one: keys the desired object does not have
 * are dropped (server-added and defaulted fields), arrays are projected item by item, and extra
 * live items are kept whole so that they show as a difference.
 */
function projection(live: unknown, shape: unknown): unknown {
  if (Array.isArray(shape) && Array.isArray(live)) return (live as unknown[]).map((item, index) => (index < shape.length ? projection(item, shape[index]) : item));
  if (!isPlainObject(shape) || !isPlainObject(live)) return live;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(shape)) {
    if (Object.hasOwn(live, key)) out[key] = projection(live[key], inner);
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const REMOVED_FIELDS_NOTE = '# Only fields removed from the desired object differ (the applied hash changed); applying drops them.\n';

function objectDiff(desired: KubeObject, live: KubeObject): string {
  const wanted = withoutHash(desired);
  const before = toYaml(projection(withoutHash(live), wanted));
  const after = toYaml(wanted);
  if (before === after) return REMOVED_FIELDS_NOTE;
  return unifiedDiff(before, after, { from: `live/${objectKey(desired)}`, to: `desired/${objectKey(desired)}` });
}

function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
}

// ---- a small unified diff: objects are short, so a plain LCS table is fast enough ----

type Op = ' ' | '-' | '+';

interface Edit {
  op: Op;
  text: string;
  /** Lines of `before` and `after` preceding this edit. */
  beforeIndex: number;
  afterIndex: number;
}

const CONTEXT_LINES = 3;

export function unifiedDiff(before: string, after: string, names: { from: string; to: string }): string {
  const edits = lineEdits(splitLines(before), splitLines(after));
  const hunks = hunkRanges(edits).map(([start, end]) => formatHunk(edits.slice(start, end + 1)));
  if (hunks.length === 0) return '';
  return [`--- ${names.from}`, `+++ ${names.to}`, ...hunks].join('\n') + '\n';
}

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

function lineEdits(a: string[], b: string[]): Edit[] {
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const edits: Edit[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const op = nextOp(a, b, lcs, [i, j]);
    edits.push({ op, text: op === '+' ? b[j]! : a[i]!, beforeIndex: i, afterIndex: j });
    if (op !== '+') i++;
    if (op !== '-') j++;
  }
  return edits;
}

function nextOp(a: string[], b: string[], lcs: number[][], [i, j]: [number, number]): Op {
  if (i < a.length && j < b.length && a[i] === b[j]) return ' ';
  if (j >= b.length) return '-';
  if (i >= a.length) return '+';
  return lcs[i + 1]![j]! >= lcs[i]![j + 1]! ? '-' : '+';
}

/** Index ranges of edits to print: each change with its context, overlapping ranges merged. */
function hunkRanges(edits: Edit[]): [number, number][] {
  const ranges: [number, number][] = [];
  edits.forEach((edit, index) => {
    if (edit.op === ' ') return;
    const start = Math.max(0, index - CONTEXT_LINES);
    const end = Math.min(edits.length - 1, index + CONTEXT_LINES);
    const last = ranges.at(-1);
    if (last !== undefined && start <= last[1] + 1) last[1] = end;
    else ranges.push([start, end]);
  });
  return ranges;
}

function formatHunk(edits: Edit[]): string {
  const first = edits[0];
  if (first === undefined) return '';
  const beforeCount = edits.filter((edit) => edit.op !== '+').length;
  const afterCount = edits.filter((edit) => edit.op !== '-').length;
  const beforeStart = beforeCount === 0 ? first.beforeIndex : first.beforeIndex + 1;
  const afterStart = afterCount === 0 ? first.afterIndex : first.afterIndex + 1;
  const header = `@@ -${beforeStart},${beforeCount} +${afterStart},${afterCount} @@`;
  return [header, ...edits.map((edit) => `${edit.op}${edit.text}`)].join('\n');
}

// ---- the plan as people read it (--dry-run) ----

const WORKLOAD_GROUP_NOTE = '  (deleting a WorkloadGroup also deletes the WorkloadEntries it owns: its VMs leave the mesh)';

export function formatPlan(plan: DeploymentPlan): string {
  const counts = `${plan.create.length} to create, ${plan.update.length} to update, ${plan.delete.length} to delete, ${plan.unchanged.length} unchanged`;
  if (plan.create.length + plan.update.length + plan.delete.length === 0) return `No changes (${counts}).\n`;
  const lines = [`Plan: ${counts}.`];
  for (const object of plan.create) lines.push('', `+ create ${objectKey(object)}`, indent(toYaml(withoutHash(object)), '+ '));
  for (const update of plan.update) lines.push('', `~ update ${objectKey(update.desired)}`, indent(update.diff, '  '));
  for (const object of plan.delete) {
    lines.push('', `- delete ${objectKey(object)}`);
    if (object.kind === 'WorkloadGroup') lines.push(WORKLOAD_GROUP_NOTE);
  }
  return `${lines.join('\n')}\n`;
}

function indent(text: string, prefix: string): string {
  return splitLines(text)
    .map((line) => `${prefix}${line}`)
    .join('\n');
}
