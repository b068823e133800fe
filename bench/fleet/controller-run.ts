import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { PeakRssSampler } from './process-tree-meter.js';

/** One run of a controller that is a process tree of its own (Ansible, the floor's ssh clients). */
export interface ControllerRun {
  wallMs: number;
  /** user+sys of the whole tree, exited children included, from bash's `times`. */
  cpuMs: number;
  peakRssBytes: number;
  exitCode: number;
  output: string;
}

/**
 * Runs argv under a bash that reports `times` (its children's user and sys, every reaped
 * descendant included) into a file: the tree's exact CPU even though its processes have exited.
 * The script is static; the command arrives as "$@".
 */
const TIMED = 'set -u; "$@"; code=$?; times > "$VMSI_TIMES_FILE"; exit $code';
const OUTPUT_LIMIT_CHARS = 200_000;

function parseTimes(text: string): number {
  // Two lines: the shell's own user/sys, then its children's, each like "0m1.234s 0m0.567s".
  const seconds = [...text.matchAll(/(\d+)m([\d.]+)s/g)].map((match) => Number(match[1]) * 60 + Number(match[2]));
  return seconds.reduce((sum, value) => sum + value, 0) * 1000;
}

export async function runController(argv: readonly string[], options: { env?: NodeJS.ProcessEnv; timesFile: string; timeoutMs: number }): Promise<ControllerRun> {
  const started = performance.now();
  const child = spawn('bash', ['-c', TIMED, 'vmsi-bench', ...argv], { env: { ...process.env, ...options.env, VMSI_TIMES_FILE: options.timesFile }, stdio: ['ignore', 'pipe', 'pipe'] });
  const sampler = new PeakRssSampler(() => child.pid);
  let output = '';
  const collect = (chunk: Buffer): void => {
    if (output.length < OUTPUT_LIMIT_CHARS) output += chunk.toString();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
  const exitCode = await new Promise<number>((resolve) => child.once('close', (code) => resolve(code ?? -1)));
  clearTimeout(timer);
  const wallMs = performance.now() - started;
  const peakRssBytes = sampler.stop();
  const cpuMs = parseTimes(await readFile(options.timesFile, 'utf8').catch(() => ''));
  await rm(options.timesFile, { force: true });
  return { wallMs, cpuMs, peakRssBytes, exitCode, output };
}
