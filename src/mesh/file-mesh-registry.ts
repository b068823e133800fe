import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { AppError } from '../errors.js';
import { stringifyLikeGoYaml } from './go-yaml.js';
import type { MeshRegistry, RegisteredWorkloadEntry } from './mesh-registry.js';
import type { WorkloadEntry, WorkloadGroup } from './workload-objects.js';

/**
 * Writes the manifests the service would apply, one file per object, for GitOps or a later
 * `kubectl apply -R -f <dir>`:
 *   <dir>/<namespace>/workloadgroup-<name>.yaml
 *   <dir>/<namespace>/workloadentry-<name>.yaml
 * YAML as sigs.k8s.io/yaml prints it (sorted keys). Every write is atomic (temporary file in the
 * same folder, fsync, rename, fsync of the folder), so a reader never sees half a manifest.
 */

const FILE_MODE = 0o644;
const DIR_MODE = 0o755;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Errors a retry cannot fix: the folder is misconfigured, not briefly unavailable. */
const PERMANENT_ERRNO = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR', 'ELOOP', 'ENAMETOOLONG']);

type ObjectKind = 'workloadgroup' | 'workloadentry';

export class FileMeshRegistry implements MeshRegistry {
  constructor(private readonly dir: string) {}

  async ensureWorkloadGroup(group: WorkloadGroup): Promise<'created' | 'exists'> {
    const file = this.fileFor('workloadgroup', group.metadata.namespace, group.metadata.name);
    return guarded('write', file, async () => ((await writeIfAbsent(file, manifest(group))) ? 'created' : 'exists'));
  }

  async applyWorkloadEntry(entry: WorkloadEntry): Promise<'created' | 'updated' | 'unchanged'> {
    const file = this.fileFor('workloadentry', entry.metadata.namespace, entry.metadata.name);
    const content = manifest(entry);
    return guarded('write', file, async () => {
      const existing = await readIfPresent(file);
      if (existing === content) return 'unchanged';
      await writeAtomically(file, content);
      return existing === undefined ? 'created' : 'updated';
    });
  }

  async deleteWorkloadEntry(namespace: string, name: string): Promise<'deleted' | 'absent'> {
    const file = this.fileFor('workloadentry', namespace, name);
    return guarded('delete', file, async () => {
      try {
        await unlink(file);
      } catch (error) {
        if (errnoOf(error) === 'ENOENT') return 'absent';
        throw error;
      }
      await syncDirectory(path.dirname(file));
      return 'deleted';
    });
  }

  async getWorkloadEntry(namespace: string, name: string): Promise<RegisteredWorkloadEntry | undefined> {
    const file = this.fileFor('workloadentry', namespace, name);
    const text = await guarded('read', file, () => readIfPresent(file));
    if (text === undefined) return undefined;
    return parseManifest(text, file);
  }

  /** Names reach the file system, so anything but a Kubernetes name (e.g. "../x") is refused here. */
  private fileFor(kind: ObjectKind, namespace: string, name: string): string {
    if (!DNS1123_LABEL.test(namespace) || namespace.length > 63 || !DNS1123_SUBDOMAIN.test(name)) {
      throw new AppError('REGISTRY_FAILED', `${kind} ${namespace}/${name} is not a valid Kubernetes namespace and name.`, {
        details: { kind, namespace, name },
      });
    }
    return path.join(this.dir, namespace, `${kind}-${name}.yaml`);
  }
}

function manifest(object: WorkloadGroup | WorkloadEntry): string {
  return stringifyLikeGoYaml(object);
}

/** Read back as YAML 1.1, the dialect the manifests are written for (go-yaml, kubectl). */
function parseManifest(text: string, file: string): RegisteredWorkloadEntry {
  let value: unknown;
  try {
    value = parseYaml(text, { version: '1.1' });
  } catch (cause) {
    throw new AppError('REGISTRY_FAILED', `${file} is not valid YAML.`, { cause, details: { file } });
  }
  if ((value as { kind?: unknown } | null)?.kind !== 'WorkloadEntry') {
    throw new AppError('REGISTRY_FAILED', `${file} does not hold a WorkloadEntry.`, { details: { file } });
  }
  return value as RegisteredWorkloadEntry;
}

async function guarded<T>(operation: 'read' | 'write' | 'delete', file: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof AppError) throw error;
    const errno = errnoOf(error);
    throw new AppError('REGISTRY_FAILED', `Cannot ${operation} registry manifest ${file}.`, {
      cause: error,
      retryable: errno === undefined || !PERMANENT_ERRNO.has(errno),
      details: { file, operation, ...(errno === undefined ? {} : { errno }) },
    });
  }
}

async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/** Atomic create-if-absent: link(2) fails with EEXIST instead of replacing, so there is no check-then-write race. */
async function writeIfAbsent(file: string, content: string): Promise<boolean> {
  const temporary = await writeTemporary(file, content);
  try {
    await link(temporary, file);
  } catch (error) {
    if (errnoOf(error) === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
  await syncDirectory(path.dirname(file));
  return true;
}

async function writeAtomically(file: string, content: string): Promise<void> {
  const temporary = await writeTemporary(file, content);
  try {
    await rename(temporary, file);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await syncDirectory(path.dirname(file));
}

/** A fully written and fsynced file next to the target; dot-prefixed so `kubectl apply -R` skips it. */
async function writeTemporary(file: string, content: string): Promise<string> {
  await ensureDirectory(path.dirname(file));
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temporary, 'wx', FILE_MODE);
  try {
    // The umask may have narrowed the mode; these manifests are meant to be read by other tools.
    await handle.chmod(FILE_MODE);
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await handle.close();
  return temporary;
}

async function ensureDirectory(dir: string): Promise<void> {
  const firstCreated = await mkdir(dir, { recursive: true, mode: DIR_MODE });
  if (firstCreated === undefined) return;
  for (let current = dir; ; current = path.dirname(current)) {
    await chmod(current, DIR_MODE);
    if (current === firstCreated || current === path.dirname(current)) return;
  }
}

/** Makes the rename or unlink itself durable, not only the file contents. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
