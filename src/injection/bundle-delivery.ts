import type { InjectionBundle } from '../render/injection-bundle.js';
import type { ExecOptions, VmSession } from './vm-shell.js';

export interface RemoteStepOptions {
  timeoutMs: number;
  /** Every output line of the remote command, already redacted. */
  onLine?: ExecOptions['onLine'];
  /** Through `sudo -n` (the default); false when logging in as root, which needs no sudo on the VM. */
  sudo?: boolean;
}

/** The machine-readable last line of `install-sidecar.sh` (docs/bundle-contract.md, "Result"). */
export interface InstallResult {
  status: 'installed' | 'unchanged' | 'removed' | 'absent' | 'csr' | 'failed';
  changed: boolean;
  spiffeId: string;
  reason: string;
}

export type InstallMode = 'install' | 'remove';

/**
 * Port: how a rendered bundle reaches a VM over an open session and how the install script runs
 * there (docs/bundle-contract.md). The injection steps decide what and when; the adapter
 * (src/ssh/deliver-bundle.ts) knows the remote commands. Failures are AppErrors:
 * REMOTE_COMMAND_FAILED (the script's one-line reason, not retryable unless said so), and the
 * session's own SSH_CONNECTION_LOST / REMOTE_COMMAND_TIMEOUT.
 */
export interface BundleDelivery {
  /** Uploads the whole bundle into `remoteDir`, recreated and readable by root only. */
  deliver(session: VmSession, bundle: InjectionBundle, remoteDir: string, options: RemoteStepOptions): Promise<void>;
  /** Runs the delivered install script in `mode`, then removes `remoteDir` whatever the outcome. */
  runInstallScript(session: VmSession, remoteDir: string, mode: InstallMode, options: RemoteStepOptions): Promise<InstallResult>;
  /** `certificates: istio-ca`: the VM makes its key and prints only the CSR (PEM). */
  requestSigning(session: VmSession, remoteDir: string, options: RemoteStepOptions): Promise<string>;
  /** Adds one file to a delivered bundle directory. */
  writeFile(session: VmSession, remoteDir: string, file: { name: string; content: Buffer }, options: RemoteStepOptions): Promise<void>;
  /** Removes `remoteDir`; it holds a token, so failing to remove it is an error. */
  remove(session: VmSession, remoteDir: string, options?: Pick<RemoteStepOptions, 'sudo'>): Promise<void>;
}
