import { spawn } from 'node:child_process';
import { mkdtemp, open, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabError } from './lab-error.js';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the command's standard input, which is then closed. */
  input?: string;
  /** The command is killed (SIGKILL) and the promise rejects after this long. */
  timeoutMs?: number;
  /** Added to this process's environment. */
  env?: Record<string, string>;
  cwd?: string;
}

const defaultTimeoutMs = 60_000;

/**
 * Standard input as an open file, never a pipe: Node's pipes are socket pairs, and bash (as Debian
 * builds it) takes a socket on stdin for an sshd session and reads bashrc, which `set -u` scripts trip on.
 */
async function openInput(input: string): Promise<FileHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'vmsi-stdin-'));
  try {
    await writeFile(join(dir, 'stdin'), input, { mode: 0o600 });
    return await open(join(dir, 'stdin'), 'r');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function collect(file: string, args: readonly string[], options: RunOptions, stdin: number | 'ignore'): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const env = options.env === undefined ? process.env : { ...process.env, ...options.env };
    const child = spawn(file, args, { stdio: [stdin, 'pipe', 'pipe'], env, cwd: options.cwd });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new LabError('Command timed out.', { file, args, timeoutMs }));
    }, timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new LabError('Command could not be started.', { file, args }, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal === null ? -1 : 128),
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
  });
}

/** Runs a program (never through a shell) and collects its output; a non-zero exit is not an error here. */
export async function runCommand(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  if (options.input === undefined) return collect(file, args, options, 'ignore');
  const input = await openInput(options.input);
  try {
    return await collect(file, args, options, input.fd);
  } finally {
    await input.close();
  }
}

/** Like runCommand, but a non-zero exit rejects with the command's output in the details. */
export async function runChecked(file: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const result = await runCommand(file, args, options);
  if (result.code !== 0) {
    throw new LabError('Command failed.', { file, args, code: result.code, stderr: result.stderr.trim() });
  }
  return result.stdout;
}
