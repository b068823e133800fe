import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { appendToRunLog } from './run-log.js';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI from source on this Node; its output also goes to the run log for the leak check. */
export function runVmsi(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/vmsi.ts', ...args], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 30_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      appendToRunLog(`vmsi ${args.join(' ')}`, stdout + stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

export function spawnVmsi(args: string[], env: NodeJS.ProcessEnv): ReturnType<typeof spawn> {
  return spawn(process.execPath, ['--import', 'tsx', 'src/cli/vmsi.ts', ...args], { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}
