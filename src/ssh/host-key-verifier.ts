import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '../errors.js';
import { fingerprintOf, formatPublicKey, hostKeyAlgorithmsPreferring, keyTypeOf, parsePublicKeyLine, type PublicKey } from './host-key.js';
import type { HostKeyStore } from './host-key-store.js';
import { findKnownKeys, parseKnownHosts } from './known-hosts.js';
import type { SshEndpoint } from '../injection/vm-shell.js';

/** What one connection attempt checks the presented host key against, prepared before connecting. */
export interface HostKeyCheck {
  /** Host key algorithms to offer, the known keys' types first. */
  readonly hostKeyAlgorithms: string[];
  /** Resolves when the key is trusted; otherwise rejects with a non-retryable AppError. */
  verify(presented: Buffer): Promise<void>;
}

export interface HostKeyVerifierOptions {
  store: HostKeyStore;
  /** Files read for the known-hosts policy when it names none; missing ones count as empty. */
  knownHostsFiles?: readonly string[];
}

/** Where OpenSSH looks by default: the user's file, then the system-wide one. */
export const defaultKnownHostsFiles: readonly string[] = [join(homedir(), '.ssh', 'known_hosts'), '/etc/ssh/ssh_known_hosts'];

/**
 * Turns an endpoint's host key policy into a check. Expected keys are read per attempt, so an
 * operator's fix to a known_hosts file or the store takes effect on the next attempt.
 */
export class HostKeyVerifier {
  private readonly knownHostsFiles: readonly string[];

  constructor(private readonly options: HostKeyVerifierOptions) {
    this.knownHostsFiles = options.knownHostsFiles ?? defaultKnownHostsFiles;
  }

  async prepare(endpoint: SshEndpoint): Promise<HostKeyCheck> {
    const policy = endpoint.hostKey;
    switch (policy.policy) {
      case 'pinned':
        return expectKeys(endpoint, pinnedKeys(endpoint, policy.publicKeys ?? []), policy.fingerprints ?? []);
      case 'known-hosts':
        return this.prepareKnownHosts(endpoint, policy.file);
      case 'accept-new':
        return this.prepareAcceptNew(endpoint);
    }
  }

  private async prepareKnownHosts(endpoint: SshEndpoint, file: string | undefined): Promise<HostKeyCheck> {
    const texts = file === undefined ? await Promise.all(this.knownHostsFiles.map(readOptional)) : [await readRequired(endpoint, file)];
    const found = findKnownKeys(parseKnownHosts(texts.join('\n')), endpoint.host, endpoint.port);
    if (found.accepted.length === 0) return unknownHost(endpoint, found.revoked);
    return expectKeys(endpoint, found.accepted, [], found.revoked);
  }

  private async prepareAcceptNew(endpoint: SshEndpoint): Promise<HostKeyCheck> {
    const recorded = await this.options.store.get(endpoint.serverKey);
    const key = recorded === undefined ? undefined : parsePublicKeyLine(recorded);
    if (key !== undefined) return expectKeys(endpoint, [key], []);
    if (recorded !== undefined) throw mismatch(endpoint, { expected: [], presented: 'unreadable store entry' });
    const store = this.options.store;
    return {
      hostKeyAlgorithms: hostKeyAlgorithmsPreferring([]),
      // First sight: record before authenticating, as OpenSSH's accept-new does; the store refuses a racing different key.
      verify: (presented) => store.record(endpoint.serverKey, formatPublicKey(presented)),
    };
  }
}

function expectKeys(endpoint: SshEndpoint, keys: readonly PublicKey[], fingerprints: readonly string[], revoked: readonly PublicKey[] = []): HostKeyCheck {
  const expected = new Set([...keys.map((key) => fingerprintOf(key.blob)), ...fingerprints]);
  const revokedFingerprints = new Set(revoked.map((key) => fingerprintOf(key.blob)));
  return {
    hostKeyAlgorithms: hostKeyAlgorithmsPreferring(keys.map((key) => key.type)),
    verify: (presented) => {
      const fingerprint = fingerprintOf(presented);
      if (revokedFingerprints.has(fingerprint)) return Promise.reject(mismatch(endpoint, { expected: [...expected], presented: fingerprint, revoked: true }));
      if (!expected.has(fingerprint)) return Promise.reject(mismatch(endpoint, { expected: [...expected], presented: fingerprint }));
      return Promise.resolve();
    },
  };
}

function unknownHost(endpoint: SshEndpoint, revoked: readonly PublicKey[]): HostKeyCheck {
  return {
    hostKeyAlgorithms: hostKeyAlgorithmsPreferring([]),
    verify: (presented) => {
      const fingerprint = fingerprintOf(presented);
      const isRevoked = revoked.some((key) => fingerprintOf(key.blob) === fingerprint);
      if (isRevoked) return Promise.reject(mismatch(endpoint, { expected: [], presented: fingerprint, revoked: true }));
      return Promise.reject(
        new AppError('SSH_HOST_KEY_UNKNOWN', 'The server is not in the known_hosts file.', {
          details: { ...where(endpoint), presented: fingerprint, presentedType: keyTypeOf(presented) },
        }),
      );
    },
  };
}

function pinnedKeys(endpoint: SshEndpoint, lines: readonly string[]): PublicKey[] {
  return lines.map((line, index) => {
    const key = parsePublicKeyLine(line);
    if (key === undefined) {
      throw new AppError('INVALID_SPEC', 'A pinned host key is not a valid OpenSSH public key.', {
        details: { ...where(endpoint), index },
      });
    }
    return key;
  });
}

function mismatch(endpoint: SshEndpoint, details: { expected: string[]; presented: string; revoked?: boolean }): AppError {
  return new AppError('SSH_HOST_KEY_MISMATCH', 'The server presented a host key that is not the expected one.', {
    retryable: false,
    details: { ...where(endpoint), ...details },
  });
}

function where(endpoint: SshEndpoint): Record<string, unknown> {
  return { host: endpoint.host, port: endpoint.port, serverKey: endpoint.serverKey, policy: endpoint.hostKey.policy };
}

async function readOptional(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new AppError('SSH_HOST_KEY_UNKNOWN', 'A known_hosts file could not be read.', { details: { file }, cause: error });
  }
}

/** A file the policy names explicitly must exist: a typo must not read as "no host is known". */
async function readRequired(endpoint: SshEndpoint, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new AppError('SSH_HOST_KEY_UNKNOWN', 'The known_hosts file could not be read.', { details: { ...where(endpoint), file }, cause: error });
  }
}
