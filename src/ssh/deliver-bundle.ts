import { Readable } from 'node:stream';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { INSTALL_SCRIPT_NAME, type InjectionBundle } from '../render/injection-bundle.js';
import { bundleTarStream } from '../render/ssh-bundle.js';
import type { BundleDelivery, InstallMode, InstallResult, RemoteStepOptions } from '../injection/bundle-delivery.js';
import type { ExecOptions, VmSession } from '../injection/vm-shell.js';

export type { InstallMode, InstallResult, RemoteStepOptions };

type ScriptCommand = InstallMode | 'csr';

const RESULT_PREFIX = 'VMSI-RESULT ';
/** What install-sidecar.sh exits with after a signal stopped it and it rolled the run back. */
const SCRIPT_INTERRUPTED_EXIT_CODE = 130;
const installResultSchema = z.object({
  status: z.enum(['installed', 'unchanged', 'removed', 'absent', 'csr', 'failed']),
  changed: z.boolean(),
  spiffeId: z.string(),
  reason: z.string(),
});

/**
 * Absolute, at least two levels deep, plain names only: the directory is removed with `rm -rf` as
 * root before and after use, so it can never be `/`, a parent reference, or anything a shell expands.
 */
const REMOTE_DIR = /^(\/[A-Za-z0-9_][A-Za-z0-9._-]*){2,}$/;
// Cleanup is one rm of a few small files.
const REMOVE_TIMEOUT_MS = 30_000;

/**
 * A static script; the directory arrives as "$1", never inside the script text. umask 077 makes
 * the directory root-only (0700) before the first byte of the token lands in it. tar runs as root,
 * so the archive's modes are kept (istio-token 0400) and --no-same-owner makes root own the files.
 */
const UNPACK_SCRIPT = 'set -eu; umask 077; rm -rf -- "$1"; mkdir -p -- "$1"; exec tar -x --no-same-owner -C "$1"';

/** Uploads the whole bundle as one tar stream into `remoteDir` (recreated, root-only) in one command. */
export async function deliverBundle(session: VmSession, bundle: InjectionBundle, remoteDir: string, options: RemoteStepOptions): Promise<void> {
  checkRemoteDir(remoteDir);
  const stderr = lastStderrLine(options.onLine);
  const result = await session.exec(['sh', '-c', UNPACK_SCRIPT, 'vmsi-unpack', remoteDir], {
    sudo: options.sudo ?? true,
    timeoutMs: options.timeoutMs,
    stdin: bundleTarStream(bundle),
    onLine: stderr.onLine,
  });
  if (result.exitCode !== 0) {
    throw new AppError('REMOTE_COMMAND_FAILED', 'The bundle could not be unpacked on the VM.', {
      details: { step: 'unpack', remoteDir, exitCode: result.exitCode, reason: stderr.last() },
    });
  }
}

/**
 * Runs the bundle's install script as root, then removes the bundle directory (it holds the
 * token) whatever the outcome. Returns the script's result line; a failed run is
 * REMOTE_COMMAND_FAILED with the script's one-line reason (the script has already rolled the VM
 * back): retryable only when a signal stopped the script. Timeouts and lost connections keep their
 * own retryable codes.
 */
export async function runInstallScript(session: VmSession, remoteDir: string, mode: InstallMode, options: RemoteStepOptions): Promise<InstallResult> {
  checkRemoteDir(remoteDir);
  let result: InstallResult;
  try {
    result = await runScript(session, remoteDir, mode, options);
  } catch (error) {
    // The first error is the one to report; a failed cleanup after it changes nothing for the caller.
    await removeBundle(session, remoteDir, options).catch(() => undefined);
    throw error;
  }
  await removeBundle(session, remoteDir, options);
  return result;
}

const CSR_PREFIX = 'VMSI-CSR ';
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
// Static: the directory and the file name arrive as "$1" and "$2"; the rename means the script never sees half a file.
const WRITE_FILE_SCRIPT = 'set -eu; umask 077; cat > "$1/.$2.part"; mv -f -- "$1/.$2.part" "$1/$2"';

/**
 * `certificates: istio-ca`: the script makes the private key on the VM and prints only the CSR
 * (docs/istio-ca.md). The CSR lines are kept out of the job log; they are public but long.
 */
export async function requestSigningOnVm(session: VmSession, remoteDir: string, options: RemoteStepOptions): Promise<string> {
  checkRemoteDir(remoteDir);
  const csrLines: string[] = [];
  await runScript(session, remoteDir, 'csr', {
    ...options,
    onLine: (stream, line) => {
      if (stream === 'stdout' && line.startsWith(CSR_PREFIX)) csrLines.push(line.slice(CSR_PREFIX.length));
      else options.onLine?.(stream, line);
    },
  });
  const csrPem = `${csrLines.join('\n')}\n`;
  if (!csrPem.startsWith('-----BEGIN CERTIFICATE REQUEST-----') || !csrPem.trimEnd().endsWith('-----END CERTIFICATE REQUEST-----')) {
    throw new AppError('REMOTE_COMMAND_FAILED', 'The VM printed no certificate signing request.', { details: { step: 'csr', lines: csrLines.length } });
  }
  return csrPem;
}

/** Adds one file to a delivered bundle directory (the signed chain, after the CSR round trip). */
export async function writeBundleFile(session: VmSession, remoteDir: string, file: { name: string; content: Buffer }, options: RemoteStepOptions): Promise<void> {
  checkRemoteDir(remoteDir);
  if (!FILE_NAME.test(file.name)) throw new AppError('INTERNAL', 'A bundle file name must be a plain name.', { details: { name: file.name } });
  const stderr = lastStderrLine(options.onLine);
  const result = await session.exec(['sh', '-c', WRITE_FILE_SCRIPT, 'vmsi-write', remoteDir, file.name], {
    sudo: options.sudo ?? true,
    timeoutMs: options.timeoutMs,
    stdin: Readable.from([file.content]),
    onLine: stderr.onLine,
  });
  if (result.exitCode !== 0) {
    throw new AppError('REMOTE_COMMAND_FAILED', `${file.name} could not be written on the VM.`, {
      details: { step: 'write-file', remoteDir, exitCode: result.exitCode, reason: stderr.last() },
    });
  }
}

async function runScript(session: VmSession, remoteDir: string, mode: ScriptCommand, options: RemoteStepOptions): Promise<InstallResult> {
  const stderr = lastStderrLine(options.onLine);
  let resultLine: string | undefined;
  const onLine: ExecOptions['onLine'] = (stream, line) => {
    if (stream === 'stdout' && line.startsWith(RESULT_PREFIX)) resultLine = line;
    stderr.onLine(stream, line);
  };
  // Through bash rather than the file's exec bit: the bundle may sit on a noexec mount (/run, /tmp).
  const exit = await session.exec(['bash', `${remoteDir}/${INSTALL_SCRIPT_NAME}`, mode, remoteDir], { sudo: options.sudo ?? true, timeoutMs: options.timeoutMs, onLine });
  const result = parseResultLine(resultLine);
  if (exit.exitCode === 0 && result !== undefined && result.status !== 'failed') return result;
  throw scriptFailure(mode, exit, result, stderr.last());
}

function scriptFailure(mode: ScriptCommand, exit: { exitCode: number; signal?: string }, result: InstallResult | undefined, lastStderr: string): AppError {
  const reason = result?.reason || lastStderr || 'the script reported no result';
  const interrupted = exit.exitCode === SCRIPT_INTERRUPTED_EXIT_CODE || exit.signal !== undefined;
  // A VM shutting down (or a dropped session's SIGHUP) stops the script, which then rolls back:
  // the same install can simply run again once the VM is back.
  return new AppError('REMOTE_COMMAND_FAILED', `The install script ${interrupted ? 'was interrupted' : 'failed'}: ${reason}`, {
    retryable: interrupted,
    details: { step: mode, exitCode: exit.exitCode, status: result?.status, reason, ...(interrupted ? { interrupted } : {}) },
  });
}

/** Best effort is not enough here: the directory holds the token, so a failed removal is an error. */
export async function removeBundle(session: VmSession, remoteDir: string, options: Pick<RemoteStepOptions, 'sudo'> = {}): Promise<void> {
  checkRemoteDir(remoteDir);
  const result = await session.exec(['rm', '-rf', '--', remoteDir], { sudo: options.sudo ?? true, timeoutMs: REMOVE_TIMEOUT_MS });
  if (result.exitCode !== 0) {
    throw new AppError('REMOTE_COMMAND_FAILED', 'The bundle directory could not be removed from the VM.', {
      retryable: true,
      details: { step: 'remove-bundle', remoteDir, exitCode: result.exitCode },
    });
  }
}

export function parseResultLine(line: string | undefined): InstallResult | undefined {
  if (line === undefined) return undefined;
  try {
    const parsed = installResultSchema.safeParse(JSON.parse(line.slice(RESULT_PREFIX.length)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function checkRemoteDir(remoteDir: string): void {
  const segments = remoteDir.split('/');
  if (!REMOTE_DIR.test(remoteDir) || segments.includes('..') || segments.includes('.')) {
    throw new AppError('INTERNAL', 'The remote bundle directory must be an absolute path of plain names, two levels deep or more.', {
      details: { remoteDir },
    });
  }
}

/** Passes lines on and keeps the last non-empty stderr line, for a failure's one-line reason. */
function lastStderrLine(next: ExecOptions['onLine']): { onLine: NonNullable<ExecOptions['onLine']>; last: () => string } {
  let last = '';
  return {
    onLine: (stream, line) => {
      if (stream === 'stderr' && line.trim() !== '') last = line.trim();
      next?.(stream, line);
    },
    last: () => last,
  };
}

/** Adapter: the BundleDelivery port over an SSH session (tar over stdin, the static script through sudo). */
export const sshBundleDelivery: BundleDelivery = {
  deliver: deliverBundle,
  runInstallScript,
  requestSigning: requestSigningOnVm,
  writeFile: writeBundleFile,
  remove: removeBundle,
};
