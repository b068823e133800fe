import { expect } from 'chai';
import type { TestVm } from './test-vm.js';

/**
 * Snapshots of a VM's file tree (type, owner, mode, link, sha256, mtime) to prove that an undo or
 * a removal leaves the VM exactly as it was.
 */
// Trees compared: everything the install may touch that survives a reboot, plus /run/secrets.
const treeRoots = ['/etc', '/var/lib', '/var/log/istio', '/usr/local', '/lib/systemd', '/run/secrets'];
const treeScript = `
for root in ${treeRoots.join(' ')}; do
  [ -e "$root" ] || continue
  find "$root" -printf 'E\\t%p\\t%y\\t%U:%G\\t%m\\t%l\\t%T@\\n'
  find "$root" -type f -exec sha256sum {} +
done
`;
/**
 * Files a package install plus removal rewrites by design, compared nowhere:
 * - shadow-utils keeps the previous version of each account file as <file>- and creates .pwd.lock;
 *   useradd/userdel write them, and the account files themselves are compared exactly;
 * - dpkg keeps the previous status database as status-old; status itself is compared exactly.
 */
export const rewrittenByPackageTools = new Set([
  '/etc/passwd-',
  '/etc/group-',
  '/etc/shadow-',
  '/etc/gshadow-',
  '/etc/.pwd.lock',
  '/var/lib/dpkg/status-old',
]);

/** The agent logs every health probe, the script's own included: its logs are not the script's. */
export const agentLogs = new Set(['/var/log/istio/istio.log', '/var/log/istio/istio.err.log']);

export interface TreeEntry {
  description: string;
  mtime: string;
}
export type Tree = Map<string, TreeEntry>;

function parseTree(output: string): Tree {
  const tree: Tree = new Map();
  const hashes = new Map<string, string>();
  for (const line of output.split('\n')) {
    if (line.startsWith('E\t')) {
      const [, path = '', type, owner, mode, link, mtime = ''] = line.split('\t');
      tree.set(path, { description: `${type} ${owner} ${mode} ${link}`, mtime });
    } else if (line.length > 0) {
      hashes.set(line.slice(66), line.slice(0, 64));
    }
  }
  for (const [path, hash] of hashes) {
    const entry = tree.get(path);
    if (entry !== undefined) entry.description += ` sha256:${hash}`;
  }
  return tree;
}

export async function snapshotTree(vm: TestVm): Promise<Tree> {
  const out = await vm.run(['bash', '-c', treeScript], { timeoutMs: 60_000 });
  expect(out.code, out.stderr).to.equal(0);
  return parseTree(out.stdout);
}

/** Differences as readable lines; [] when the trees match (mtimes compared only when asked). */
export function treeDiff(before: Tree, after: Tree, options: { ignore?: Set<string>; mtimes?: boolean } = {}): string[] {
  const ignore = options.ignore ?? new Set<string>();
  const lines: string[] = [];
  for (const path of new Set([...before.keys(), ...after.keys()])) {
    if (ignore.has(path)) continue;
    const [was, now] = [before.get(path), after.get(path)];
    if (was === undefined) lines.push(`+ ${path} ${now?.description}`);
    else if (now === undefined) lines.push(`- ${path} ${was.description}`);
    else if (was.description !== now.description) lines.push(`~ ${path} ${was.description} -> ${now.description}`);
    else if (options.mtimes === true && was.mtime !== now.mtime) lines.push(`~ ${path} mtime ${was.mtime} -> ${now.mtime}`);
  }
  return lines.sort();
}

