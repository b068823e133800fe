import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, mkdirSync } from 'node:fs';
import { copyFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { LabError } from './lab-error.js';
import { runChecked } from './run-command.js';

export interface ServedRequest {
  method: string;
  path: string;
  status: number;
  remoteAddress: string;
}

export interface PackageServer {
  /** http://<bridge address>:<port>, reachable from every VM and from the host. */
  readonly baseUrl: string;
  /** A sources.list line for the flat repository, e.g. for /etc/apt/sources.list.d/lab.list. */
  readonly aptSourceLine: string;
  /** Serves a copy of the file under /files/<name> and returns its URL. */
  publishFile(localPath: string, name?: string): string;
  /** Adds a .deb to the flat apt repository (regenerating its indexes) and returns the .deb's URL. */
  publishPackage(debPath: string): Promise<string>;
  /** Every request served so far, oldest first, e.g. to assert that a VM downloaded a package. */
  requests(): readonly ServedRequest[];
  /**
   * Holds every request until released: freezes a VM mid-install (at its package download) so a
   * test can cut its connection or crash the service at a known point.
   */
  hold(): RequestHold;
  close(): Promise<void>;
}

// Served names are single path segments of these characters: no traversal is expressible.
const servedName = /^[A-Za-z0-9][A-Za-z0-9._+~-]*$/;
const sections = ['files', 'apt'] as const;

function assertServedName(name: string): void {
  if (!servedName.test(name)) throw new LabError('The name cannot be served.', { name });
}

async function regularFileSize(path: string): Promise<number | undefined> {
  const info = await stat(path).catch(() => undefined);
  return info?.isFile() === true ? info.size : undefined;
}

/** Maps "/files/x" or "/apt/x" to a file under the served directory, or undefined. */
function resolveRequestPath(servedDir: string, pathname: string): string | undefined {
  const [section, name, ...rest] = pathname.split('/').slice(1);
  const known = sections.some((candidate) => candidate === section);
  return known && name !== undefined && rest.length === 0 && servedName.test(name) ? join(servedDir, section ?? '', name) : undefined;
}

/** The request's path with dot segments resolved (apt asks for "/apt/./Release") and escapes decoded. */
function requestPathname(request: IncomingMessage): string {
  try {
    return decodeURIComponent(new URL(request.url ?? '/', 'http://lab').pathname);
  } catch {
    return '/';
  }
}

async function serve(servedDir: string, request: IncomingMessage, response: ServerResponse): Promise<number> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { allow: 'GET, HEAD' }).end();
    return 405;
  }
  const path = resolveRequestPath(servedDir, requestPathname(request));
  const size = path === undefined ? undefined : await regularFileSize(path);
  if (path === undefined || size === undefined) {
    response.writeHead(404).end();
    return 404;
  }
  response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
  if (request.method === 'HEAD') response.end();
  else createReadStream(path).pipe(response);
  return 200;
}

function sha256Line(name: string, content: Buffer): string {
  return ` ${createHash('sha256').update(content).digest('hex')} ${content.length} ${name}`;
}

/** Packages, Packages.gz and a Release listing their checksums, as apt expects of a flat repository. */
async function writeAptIndexes(aptDir: string): Promise<void> {
  const packages = Buffer.from(await runChecked('dpkg-scanpackages', ['--multiversion', '.', '/dev/null'], { cwd: aptDir }));
  const compressed = gzipSync(packages);
  await writeFile(join(aptDir, 'Packages'), packages);
  await writeFile(join(aptDir, 'Packages.gz'), compressed);
  const date = new Date().toUTCString().replace('GMT', 'UTC');
  const release = ['Origin: vmsi-lab', 'Label: vmsi-lab', `Date: ${date}`, 'SHA256:', sha256Line('Packages', packages), sha256Line('Packages.gz', compressed)];
  await writeFile(join(aptDir, 'Release'), `${release.join('\n')}\n`);
}

export interface RequestHold {
  /** Resolves once a request is being held. */
  arrived(): Promise<void>;
  /** Lets held and later requests through. */
  release(): void;
}

/** The one gate requests pass; open unless a test holds it. */
class RequestGate {
  private held: { open: Promise<void>; release: () => void; arrived: Promise<void>; signalArrival: () => void } | undefined;

  hold(): RequestHold {
    const open = Promise.withResolvers<void>();
    const arrived = Promise.withResolvers<void>();
    const held = { open: open.promise, release: open.resolve, arrived: arrived.promise, signalArrival: arrived.resolve };
    this.held = held;
    return {
      arrived: () => held.arrived,
      release: () => {
        if (this.held === held) this.held = undefined;
        held.release();
      },
    };
  }

  async pass(): Promise<void> {
    const held = this.held;
    if (held === undefined) return;
    held.signalArrival();
    await held.open;
  }
}

class LabPackageServer implements PackageServer {
  readonly baseUrl: string;
  readonly aptSourceLine: string;

  constructor(
    private readonly server: Server,
    private readonly servedDir: string,
    private readonly served: ServedRequest[],
    private readonly gate: RequestGate,
  ) {
    const { address, port } = server.address() as AddressInfo;
    this.baseUrl = `http://${address}:${port}`;
    // trusted=yes: the repository is unsigned, which is acceptable only because it exists inside the lab.
    this.aptSourceLine = `deb [trusted=yes] ${this.baseUrl}/apt ./`;
  }

  publishFile(localPath: string, name: string = basename(localPath)): string {
    assertServedName(name);
    copyFileSync(localPath, join(this.servedDir, 'files', name));
    return `${this.baseUrl}/files/${name}`;
  }

  async publishPackage(debPath: string): Promise<string> {
    const name = basename(debPath);
    assertServedName(name);
    if (!name.endsWith('.deb')) throw new LabError('Only .deb packages can be published to the apt repository.', { name });
    await copyFile(debPath, join(this.servedDir, 'apt', name));
    await writeAptIndexes(join(this.servedDir, 'apt'));
    return `${this.baseUrl}/apt/${name}`;
  }

  requests(): readonly ServedRequest[] {
    return [...this.served];
  }

  hold(): RequestHold {
    return this.gate.hold();
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/** An HTTP server on `address` only (the bridge), so nothing outside the lab can reach it. */
export async function startPackageServer(address: string, servedDir: string): Promise<PackageServer> {
  sections.forEach((section) => mkdirSync(join(servedDir, section), { recursive: true }));
  await writeAptIndexes(join(servedDir, 'apt'));
  const served: ServedRequest[] = [];
  const gate = new RequestGate();
  const server = createServer((request, response) => {
    gate
      .pass()
      .then(() => serve(servedDir, request, response))
      .then((status) => served.push({ method: request.method ?? '', path: requestPathname(request), status, remoteAddress: request.socket.remoteAddress ?? '' }))
      .catch(() => response.destroy());
  });
  server.listen(0, address);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (error) => reject(new LabError('The package server could not listen.', { address }, { cause: error })));
  });
  return new LabPackageServer(server, servedDir, served, gate);
}
