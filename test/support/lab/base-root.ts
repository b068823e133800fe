import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LabError } from './lab-error.js';
import { runCommand } from './run-command.js';

export const defaultCacheDir = '/var/cache/vmsi-test';

const prepareScript = fileURLToPath(new URL('../../../scripts/prepare-test-host.sh', import.meta.url));
// The first build runs debootstrap (about 75 s here); later calls only check the stamp.
const prepareTimeoutMs = 15 * 60_000;
const prepared = new Map<string, Promise<string>>();

async function prepare(cacheDir: string): Promise<string> {
  const result = await runCommand(prepareScript, [], { env: { VMSI_TEST_CACHE: cacheDir }, timeoutMs: prepareTimeoutMs });
  const baseDir = `${cacheDir}/base-bookworm`;
  if (result.code !== 0 || !existsSync(`${baseDir}/etc/os-release`)) {
    throw new LabError('The VM base root could not be prepared.', { script: prepareScript, code: result.code, stderr: result.stderr.trim() });
  }
  return baseDir;
}

/**
 * The cached base root every VM overlays, built or refreshed by scripts/prepare-test-host.sh (run
 * once per process: it is idempotent and returns in a fraction of a second when the cache is current).
 */
export function ensureBaseRoot(cacheDir: string = defaultCacheDir): Promise<string> {
  let pending = prepared.get(cacheDir);
  if (pending === undefined) {
    pending = prepare(cacheDir);
    prepared.set(cacheDir, pending);
    pending.catch(() => prepared.delete(cacheDir));
  }
  return pending;
}
