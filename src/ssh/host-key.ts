import { createHash } from 'node:crypto';

/** A public key in SSH wire format (the blob OpenSSH base64-encodes in known_hosts and .pub files). */
export interface PublicKey {
  type: string;
  blob: Buffer;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Host key algorithms ssh2 can verify, in its default order. ssh-dss is left out on purpose:
 * OpenSSH disabled it years ago and a server offering only DSA is not one to trust.
 */
const HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/** The key type is the first string inside the blob; undefined when the blob is malformed. */
export function keyTypeOf(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  if (length === 0 || length > 64 || 4 + length > blob.length) return undefined;
  return blob.subarray(4, 4 + length).toString('latin1');
}

/** Parses `<type> <base64> [comment]`; undefined unless the blob really holds a key of that type. */
export function parsePublicKeyLine(line: string): PublicKey | undefined {
  const [type, encoded] = line.trim().split(/\s+/);
  if (type === undefined || encoded === undefined || !BASE64.test(encoded)) return undefined;
  const blob = Buffer.from(encoded, 'base64');
  return keyTypeOf(blob) === type ? { type, blob } : undefined;
}

/** As `ssh-keygen -l` prints it: SHA256 of the blob, base64 without padding. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** `<type> <base64>`, the form OpenSSH stores. */
export function formatPublicKey(blob: Buffer): string {
  return `${keyTypeOf(blob) ?? 'unknown'} ${blob.toString('base64')}`;
}

/** RSA keys are offered under their SHA-2 signature algorithms first; the key itself is the same. */
function algorithmsForKeyType(type: string): string[] {
  return type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type];
}

/**
 * Offers the algorithms of the keys we already know first, as OpenSSH does, so a server with
 * several host keys presents one we can compare instead of an unknown one of another type.
 */
export function hostKeyAlgorithmsPreferring(knownTypes: readonly string[]): string[] {
  const preferred = knownTypes.flatMap(algorithmsForKeyType).filter((name) => HOST_KEY_ALGORITHMS.includes(name));
  return [...new Set([...preferred, ...HOST_KEY_ALGORITHMS])];
}
