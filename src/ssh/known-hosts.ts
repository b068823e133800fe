import { createHmac } from 'node:crypto';
import { parsePublicKeyLine, type PublicKey } from './host-key.js';

/** One line of an OpenSSH known_hosts file (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT"). */
export interface KnownHostEntry {
  marker: 'revoked' | 'cert-authority' | undefined;
  /** Comma-separated host patterns: names, `[host]:port`, wildcards, `!negations`, or one `|1|salt|hash`. */
  patterns: string[];
  key: PublicKey;
}

export interface KnownKeys {
  accepted: PublicKey[];
  revoked: PublicKey[];
}

const MARKERS = new Map<string, KnownHostEntry['marker']>([
  ['@revoked', 'revoked'],
  ['@cert-authority', 'cert-authority'],
]);

/** Malformed lines are skipped, as ssh does: one bad line must not hide the others. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  for (const line of text.split(/\r?\n/)) {
    const entry = parseLine(line.trim());
    if (entry !== undefined) entries.push(entry);
  }
  return entries;
}

function parseLine(line: string): KnownHostEntry | undefined {
  if (line === '' || line.startsWith('#')) return undefined;
  const fields = line.split(/\s+/);
  const markerField = fields[0]?.startsWith('@') === true ? fields.shift() : undefined;
  const marker = markerField === undefined ? undefined : MARKERS.get(markerField);
  if (markerField !== undefined && marker === undefined) return undefined;
  const hosts = fields.shift();
  const key = parsePublicKeyLine(fields.join(' '));
  if (hosts === undefined || key === undefined) return undefined;
  return { marker, patterns: hosts.split(','), key };
}

/** The name ssh looks up: the bare host on port 22, `[host]:port` otherwise. Host names are case-insensitive. */
export function knownHostName(host: string, port: number): string {
  const name = host.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

/**
 * Keys that apply to host:port. Certificate authorities are ignored (host certificates are not
 * supported), which fails closed: a host known only through a CA counts as unknown.
 */
export function findKnownKeys(entries: readonly KnownHostEntry[], host: string, port: number): KnownKeys {
  const name = knownHostName(host, port);
  const found: KnownKeys = { accepted: [], revoked: [] };
  for (const entry of entries) {
    if (entry.marker === 'cert-authority' || !matchesHost(entry.patterns, name)) continue;
    (entry.marker === 'revoked' ? found.revoked : found.accepted).push(entry.key);
  }
  return found;
}

/** A negated pattern that matches excludes the host even when another pattern includes it. */
export function matchesHost(patterns: readonly string[], name: string): boolean {
  let included = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (!matchesPattern(pattern, name)) continue;
    if (negated) return false;
    included = true;
  }
  return included;
}

function matchesPattern(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) return matchesHashed(pattern, name);
  const source = pattern
    .toLowerCase()
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replaceAll('*', '.*')
    .replaceAll('?', '.');
  return new RegExp(`^${source}$`).test(name);
}

/** HashKnownHosts entries: `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`. */
function matchesHashed(pattern: string, name: string): boolean {
  const [, , salt, hash] = pattern.split('|');
  if (salt === undefined || hash === undefined) return false;
  return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
}
