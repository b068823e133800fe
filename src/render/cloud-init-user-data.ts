import { gzipSync } from 'node:zlib';
import { Document } from 'yaml';
import { AppError } from '../errors.js';
import { INSTALL_SCRIPT_NAME, type InjectionBundle } from './injection-bundle.js';

/** Nova rejects user_data whose base64 form exceeds this many bytes. */
export const NOVA_USER_DATA_LIMIT_BYTES = 65_535;

/**
 * On tmpfs so the token never lands on the VM's disk outside the places Istio reads it from;
 * write_files runs in the init stage and runcmd in the final stage of the same boot.
 */
export const CLOUD_INIT_BUNDLE_DIR = '/run/vm-sidecar-injector/bundle';

export function renderCloudInitUserData(bundle: InjectionBundle, bundleDir = CLOUD_INIT_BUNDLE_DIR): string {
  const writeFiles = bundle.files.map((file) => writeFileEntry(`${bundleDir}/${file.name}`, file.content, file.mode));
  const script = `${bundleDir}/${INSTALL_SCRIPT_NAME}`;
  const config = {
    write_files: writeFiles,
    // Exec form: cloud-init runs these without a shell, so no path is ever shell-parsed.
    runcmd: [
      [script, 'install', bundleDir],
      ['rm', '-rf', '--one-file-system', bundleDir],
    ],
  };
  const body = new Document(config).toString({ lineWidth: 0, blockQuote: 'literal' });
  const userData = `#cloud-config\n${body}`;
  assertFitsNova(userData);
  return userData;
}

/** Above this size a file is gzip-compressed: the install script alone would otherwise eat most of Nova's limit. */
const COMPRESS_ABOVE_BYTES = 4096;

function writeFileEntry(path: string, content: Buffer, mode: number): Record<string, unknown> {
  return {
    path,
    owner: 'root:root',
    // Quoted octal string: cloud-init reads an unquoted 0644 as the integer 420.
    permissions: `0${mode.toString(8)}`,
    ...encodeContent(content),
  };
}

function encodeContent(content: Buffer): { content: string; encoding?: string } {
  // zlib writes a zero mtime in the gzip header, so the same bundle renders to the same bytes.
  if (content.length > COMPRESS_ABOVE_BYTES) return { encoding: 'gz+b64', content: gzipSync(content, { level: 9 }).toString('base64') };
  const text = content.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(content) && !content.some(isControlByte);
  return isText ? { content: text } : { encoding: 'b64', content: content.toString('base64') };
}

/** Tabs and line breaks are text; other control bytes make YAML escape or reject the content. */
function isControlByte(byte: number): boolean {
  return (byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) || byte === 0x7f;
}

export function base64Length(byteLength: number): number {
  return 4 * Math.ceil(byteLength / 3);
}

function assertFitsNova(userData: string): void {
  const encoded = base64Length(Buffer.byteLength(userData));
  if (encoded > NOVA_USER_DATA_LIMIT_BYTES) {
    throw new AppError(
      'USER_DATA_TOO_LARGE',
      `The rendered user data is ${encoded} bytes in base64, over Nova's limit of ${NOVA_USER_DATA_LIMIT_BYTES} bytes.`,
      { details: { base64Bytes: encoded, limitBytes: NOVA_USER_DATA_LIMIT_BYTES } },
    );
  }
}
