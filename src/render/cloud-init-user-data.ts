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

function writeFileEntry(path: string, content: Buffer, mode: number): Record<string, unknown> {
  const text = content.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(content) && !/[\0-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(text);
  return {
    path,
    owner: 'root:root',
    // Quoted octal string: cloud-init reads an unquoted 0644 as the integer 420.
    permissions: `0${mode.toString(8)}`,
    ...(isText ? { content: text } : { encoding: 'b64', content: content.toString('base64') }),
  };
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
