import { pack } from 'tar-stream';
import { Readable } from 'node:stream';
import type { InjectionBundle } from './injection-bundle.js';

/**
 * The whole bundle as one ustar stream, so SSH delivery is a single transfer that
 * `tar -x` unpacks with the right modes on any Linux. Timestamps are fixed: same input, same bytes.
 */
export function bundleTarStream(bundle: InjectionBundle): Readable {
  const tar = pack();
  for (const file of bundle.files) {
    tar.entry({ name: file.name, mode: file.mode, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: new Date(0) }, file.content);
  }
  tar.finalize();
  // tar-stream speaks streamx; callers (ssh2 channels) expect a Node stream.
  return Readable.from(tar);
}

export async function bundleTarBuffer(bundle: InjectionBundle): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of bundleTarStream(bundle)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
