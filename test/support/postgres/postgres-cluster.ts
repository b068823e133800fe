import { chown, mkdtemp, readdir, rm, writeFile, appendFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runChecked, runCommand } from '../lab/run-command.js';

/** Where Debian's postgresql-NN packages put the server binaries (not on PATH). */
const DEBIAN_POSTGRES_LIB = '/usr/lib/postgresql';
const SUPERUSER = 'vmsi';
const COMMAND_TIMEOUT_MS = 60_000;

export interface PostgresCluster {
  /** The folder holding the data directory and the Unix socket; removed by stop(). */
  readonly dir: string;
  /** A connection URL for a database of this cluster, over the Unix socket. */
  url(database: string): string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Runs one SQL statement as the superuser and returns psql's unaligned output. */
  query(database: string, sql: string): Promise<string>;
  /** What the server logged, for a failing test's message. */
  readonly logFile: string;
  /** Stops the server abruptly (every connection dropped) and starts it again on the same data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function serverBinDir(): Promise<string> {
  const versions = existsSync(DEBIAN_POSTGRES_LIB) ? await readdir(DEBIAN_POSTGRES_LIB) : [];
  const newest = versions.filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a))[0];
  if (newest === undefined || !existsSync(path.join(DEBIAN_POSTGRES_LIB, newest, 'bin', 'initdb'))) {
    throw new Error('PostgreSQL is not installed: run scripts/prepare-test-host.sh (it installs Debian\'s postgresql).');
  }
  return path.join(DEBIAN_POSTGRES_LIB, newest, 'bin');
}

/** PostgreSQL refuses to run as root; the Debian package's `postgres` system user runs the throwaway cluster. */
async function serverUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number((await runChecked('id', ['-u', 'postgres'])).trim());
  const gid = Number((await runChecked('id', ['-g', 'postgres'])).trim());
  return { uid, gid };
}

function asServerUser(isRoot: boolean, file: string, args: readonly string[]): [string, string[]] {
  return isRoot ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, [...args]];
}

/**
 * A PostgreSQL cluster of its own for a test run: initdb into a temporary folder, reachable only
 * on a Unix socket in that folder (no TCP listener at all), trust authentication because nobody
 * but its owner and root can open the folder. stop() shuts it down and removes every file.
 */
export async function startPostgresCluster(): Promise<PostgresCluster> {
  const bin = await serverBinDir();
  const owner = await serverUser();
  const isRoot = owner !== undefined;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vmsi-pg-'));
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  const run = async (file: string, args: readonly string[]): Promise<string> => {
    const [command, commandArgs] = asServerUser(isRoot, path.join(bin, file), args);
    return runChecked(command, commandArgs, { timeoutMs: COMMAND_TIMEOUT_MS, cwd: dir });
  };
  let started = false;
  const stop = async (): Promise<void> => {
    if (started) {
      const [command, args] = asServerUser(isRoot, path.join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      await runCommand(command, args, { timeoutMs: COMMAND_TIMEOUT_MS });
      started = false;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    if (owner !== undefined) await chown(dir, owner.uid, owner.gid);
    await writeFile(logFile, '');
    if (owner !== undefined) await chown(logFile, owner.uid, owner.gid);
    await run('initdb', ['-D', dataDir, '-U', SUPERUSER, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    // A test cluster: no TCP, the socket in the private folder, and no fsync (its data die with the test anyway).
    await appendFile(dataDir + '/postgresql.conf', `\nlisten_addresses = ''\nunix_socket_directories = '${dir}'\nfsync = off\nfull_page_writes = off\nmax_connections = 200\n`);
    await run('pg_ctl', ['-D', dataDir, '-l', logFile, '-w', '-t', '60', 'start']);
    started = true;
  } catch (error) {
    await stop();
    throw error;
  }
  const url = (database: string): string => `postgresql://${SUPERUSER}@localhost/${encodeURIComponent(database)}?host=${encodeURIComponent(dir)}`;
  const query = async (database: string, sql: string): Promise<string> =>
    runChecked(path.join(bin, 'psql'), ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', dir, '-U', SUPERUSER, '-d', database, '-c', sql], { timeoutMs: COMMAND_TIMEOUT_MS });
  return {
    dir,
    logFile,
    url,
    query,
    restart: async (): Promise<void> => {
      await run('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      await run('pg_ctl', ['-D', dataDir, '-l', logFile, '-w', '-t', '60', 'start']);
    },
    createDatabase: async (name: string): Promise<string> => {
      if (!/^[a-z][a-z0-9_]{0,62}$/.test(name)) throw new Error(`Not a plain database name: ${name}`);
      await query('postgres', `CREATE DATABASE ${name}`);
      return url(name);
    },
    stop,
  };
}
