import { isDeepStrictEqual } from 'node:util';

/**
 * Server-side apply as kube-apiserver does it (k8s.io/apimachinery/pkg/util/managedfields), reduced
 * to what the simulated objects need: field ownership is tracked per manager and operation for the
 * leaves under metadata.labels, metadata.annotations and every top-level field but apiVersion,
 * kind, metadata and status (spec, data, …); lists are atomic (as the Istio CRDs declare none as
 * list-map; built-in kinds' keyed lists, such as a Deployment's containers, are a simplification
 * here); applying a changed value owned by another manager is a conflict
 * unless forced; fields a manager applied before and leaves out now are removed when nobody else
 * owns them.
 */

export type FieldPath = string[];
export type KubeObject = Record<string, unknown> & { metadata: Record<string, unknown> };

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Record<string, unknown>;
}

export interface FieldConflict {
  manager: string;
  path: FieldPath;
}

/** Ownership as stored: one set of leaf paths per (manager, operation). */
export interface Ownership {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  paths: Set<string>;
}

const METADATA_ROOTS: FieldPath[] = [['metadata', 'labels'], ['metadata', 'annotations']];
const UNTRACKED_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'status']);

function trackedRoots(object: unknown): FieldPath[] {
  const fields = isMap(object) ? Object.keys(object).filter((field) => !UNTRACKED_FIELDS.has(field)) : [];
  return [...METADATA_ROOTS, ...fields.map((field) => [field])];
}

const keyOf = (path: FieldPath): string => JSON.stringify(path);
const pathOf = (key: string): FieldPath => JSON.parse(key) as FieldPath;

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function valueAt(object: unknown, path: FieldPath): unknown {
  let current = object;
  for (const segment of path) {
    if (!isMap(current)) return undefined;
    current = current[segment];
  }
  return current;
}

function setAt(object: Record<string, unknown>, path: FieldPath, value: unknown): void {
  let current = object;
  for (const segment of path.slice(0, -1)) {
    if (!isMap(current[segment])) current[segment] = {};
    current = current[segment] as Record<string, unknown>;
  }
  current[path[path.length - 1] as string] = structuredClone(value);
}

function deleteAt(object: Record<string, unknown>, path: FieldPath): void {
  const parent = valueAt(object, path.slice(0, -1));
  if (isMap(parent)) delete parent[path[path.length - 1] as string];
}

function collectLeaves(value: unknown, prefix: FieldPath, into: Set<string>): void {
  if (isMap(value) && Object.keys(value).length > 0) {
    for (const [key, inner] of Object.entries(value)) collectLeaves(inner, [...prefix, key], into);
    return;
  }
  if (value !== undefined) into.add(keyOf(prefix));
}

/** Every leaf the object sets under the tracked roots. */
export function leafPaths(object: unknown): Set<string> {
  const leaves = new Set<string>();
  for (const root of trackedRoots(object)) collectLeaves(valueAt(object, root), root, leaves);
  return leaves;
}

/** The fieldsV1 encoding (`{"f:spec":{"f:address":{}}}`) of a set of leaf paths. */
export function toFieldsV1(paths: Set<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of [...paths].sort()) {
    let node = out;
    for (const segment of pathOf(key)) {
      const field = `f:${segment}`;
      node[field] ??= {};
      node = node[field] as Record<string, unknown>;
    }
  }
  return out;
}

export function renderManagedFields(owners: Ownership[]): ManagedFieldsEntry[] {
  return owners
    .filter((owner) => owner.paths.size > 0)
    .map((owner) => ({
      manager: owner.manager,
      operation: owner.operation,
      apiVersion: owner.apiVersion,
      time: owner.time,
      fieldsType: 'FieldsV1',
      fieldsV1: toFieldsV1(owner.paths),
    }));
}

export interface ApplyInput {
  current: KubeObject | undefined;
  owners: Ownership[];
  applied: KubeObject;
  manager: string;
  force: boolean;
  time: string;
}

export type ApplyResult =
  | { kind: 'conflict'; conflicts: FieldConflict[] }
  | { kind: 'applied'; object: KubeObject; owners: Ownership[]; changed: boolean };

function changedPaths(current: KubeObject | undefined, applied: KubeObject, paths: Set<string>): Set<string> {
  return new Set([...paths].filter((key) => !isDeepStrictEqual(valueAt(current, pathOf(key)), valueAt(applied, pathOf(key)))));
}

function conflictsOf(input: ApplyInput, changed: Set<string>): FieldConflict[] {
  const conflicts: FieldConflict[] = [];
  for (const owner of input.owners) {
    if (owner.manager === input.manager && owner.operation === 'Apply') continue;
    for (const key of changed) {
      if (owner.paths.has(key)) conflicts.push({ manager: owner.manager, path: pathOf(key) });
    }
  }
  return conflicts;
}

export function serverSideApply(input: ApplyInput): ApplyResult {
  const appliedPaths = leafPaths(input.applied);
  const changed = changedPaths(input.current, input.applied, appliedPaths);
  const conflicts = conflictsOf(input, changed);
  if (conflicts.length > 0 && !input.force) return { kind: 'conflict', conflicts };

  const identity = { name: input.applied.metadata.name, namespace: input.applied.metadata.namespace };
  const object = structuredClone(input.current ?? { apiVersion: input.applied.apiVersion, kind: input.applied.kind, metadata: identity }) as KubeObject;
  const previous = input.owners.find((owner) => owner.manager === input.manager && owner.operation === 'Apply');
  const others = input.owners.filter((owner) => owner !== previous);
  for (const key of previous?.paths ?? []) {
    const ownedElsewhere = others.some((owner) => owner.paths.has(key));
    if (!appliedPaths.has(key) && !ownedElsewhere) deleteAt(object, pathOf(key));
  }
  for (const key of appliedPaths) setAt(object, pathOf(key), valueAt(input.applied, pathOf(key)));
  pruneEmptyMaps(object);

  const owners = others.map((owner) => ({ ...owner, paths: new Set([...owner.paths].filter((key) => !changed.has(key))) }));
  const removed = [...(previous?.paths ?? [])].some((key) => !appliedPaths.has(key));
  const isChanged = changed.size > 0 || removed || previous === undefined || !isDeepStrictEqual(previous.paths, appliedPaths);
  const apiVersion = String(input.applied.apiVersion);
  const time = isChanged || previous === undefined ? input.time : previous.time;
  owners.push({ manager: input.manager, operation: 'Apply', apiVersion, time, paths: appliedPaths });
  return { kind: 'applied', object, owners: owners.filter((owner) => owner.paths.size > 0), changed: isChanged };
}

/** An Update (POST or PUT): the manager owns what it set or changed; others lose what changed. */
export function recordUpdate(before: KubeObject | undefined, after: KubeObject, owners: Ownership[], update: Omit<Ownership, 'paths' | 'operation'>): Ownership[] {
  const afterPaths = leafPaths(after);
  const beforePaths = leafPaths(before);
  const changed = new Set([...afterPaths, ...beforePaths].filter((key) => !isDeepStrictEqual(valueAt(before, pathOf(key)), valueAt(after, pathOf(key)))));
  const kept = owners.map((owner) => ({ ...owner, paths: new Set([...owner.paths].filter((key) => !changed.has(key))) }));
  const mine = kept.find((owner) => owner.manager === update.manager && owner.operation === 'Update');
  const added = [...changed].filter((key) => afterPaths.has(key));
  if (mine === undefined) kept.push({ ...update, operation: 'Update', paths: new Set(added) });
  else added.forEach((key) => mine.paths.add(key));
  return kept.filter((owner) => owner.paths.size > 0);
}

function pruneEmptyMaps(object: Record<string, unknown>): void {
  for (const root of METADATA_ROOTS) {
    const value = valueAt(object, root);
    if (isMap(value) && Object.keys(value).length === 0) deleteAt(object, root);
  }
}

export function describePath(path: FieldPath): string {
  return path.map((segment) => (/^[A-Za-z0-9_]+$/.test(segment) ? `.${segment}` : `[${JSON.stringify(segment)}]`)).join('');
}
