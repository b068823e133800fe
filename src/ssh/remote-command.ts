import { AppError } from '../errors.js';

/**
 * sshd hands the command string to the user's login shell (`$SHELL -c`), so every argument is
 * single-quoted for a POSIX shell: inside '…' nothing is special, and a ' is written as '\''.
 * Arguments are never spliced raw, whatever characters they hold.
 */
export function quotePosix(argument: string): string {
  return `'${argument.replaceAll("'", `'\\''`)}'`;
}

export interface RemoteCommandOptions {
  /** Run as root through `sudo -n`: fails at once instead of waiting for a password prompt. */
  sudo?: boolean;
}

export function buildRemoteCommand(argv: readonly string[], options: RemoteCommandOptions = {}): string {
  if (argv.length === 0) throw new AppError('INTERNAL', 'A remote command needs at least a program name.');
  // A NUL cannot travel through a shell command line; refusing beats silently truncating.
  if (argv.some((argument) => argument.includes('\0'))) throw new AppError('INTERNAL', 'A remote command argument contains a NUL byte.');
  const full = options.sudo === true ? ['sudo', '-n', '--', ...argv] : argv;
  return full.map(quotePosix).join(' ');
}
