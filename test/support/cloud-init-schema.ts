import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Debian's cloud-init judges the user-data: the same code that will parse it on the VM. */
export async function validateWithCloudInitSchema(userData: string): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vmsi-cloud-init-'));
  const file = path.join(dir, 'user-data');
  try {
    await writeFile(file, userData, { mode: 0o600 });
    await run('cloud-init', ['schema', '--config-file', file], { timeout: 60_000 });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`cloud-init schema rejected the user-data:\n${stdout}${stderr}`, { cause: error });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
