import type { SshTarget, VmSession, VmShell, ConnectOptions, ExecOptions, ExecResult } from '../../src/injection/vm-shell.js';
import { AppError } from '../../src/errors.js';

/**
 * A VmShell port fake for API and job-wiring tests: it answers the commands the injection steps run
 * as a healthy VM would. SSH itself is tested against real OpenSSH in test VMs, never through this.
 */
export class ScriptedVmShell implements VmShell {
  readonly commands: string[][] = [];
  /** When set, connect fails with this error (e.g. a host key mismatch). */
  connectError: AppError | undefined;
  /**
   * The VM restarts right after the first install: its tmpfs token is gone and istio cannot become
   * ready, until an install writes a token again.
   */
  restartsAfterFirstInstall = false;
  private installs = 0;

  connect(_target: SshTarget, _options: ConnectOptions): Promise<VmSession> {
    if (this.connectError) return Promise.reject(this.connectError);
    return Promise.resolve(new ScriptedSession(this.commands, (argv) => this.reply(argv)));
  }

  private reply(argv: string[]): { exitCode: number; stdout: string[] } {
    if (argv.join(' ').includes('install-sidecar.sh') && !argv.includes('remove')) this.installs += 1;
    const hasLostToken = this.restartsAfterFirstInstall && this.installs === 1;
    if (argv.includes('vmsi-verify') && hasLostToken) return { exitCode: 0, stdout: ['active=active', 'enabled=enabled', 'readiness=503', 'certificate=absent', 'token=absent'] };
    return replyFor(argv);
  }
}

class ScriptedSession implements VmSession {
  readonly hostKeyFingerprint = 'SHA256:scriptedscriptedscriptedscriptedscriptedscr';

  constructor(
    private readonly commands: string[][],
    private readonly replyTo: (argv: string[]) => { exitCode: number; stdout: string[] },
  ) {}

  async exec(argv: string[], options: ExecOptions): Promise<ExecResult> {
    this.commands.push(argv);
    if (options.stdin) for await (const _chunk of options.stdin) void _chunk;
    const reply = this.replyTo(argv);
    for (const line of reply.stdout) options.onLine?.('stdout', line);
    return { exitCode: reply.exitCode };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function replyFor(argv: string[]): { exitCode: number; stdout: string[] } {
  const joined = argv.join(' ');
  if (joined.includes('install-sidecar.sh')) {
    const mode = argv.includes('remove') ? 'removed' : 'installed';
    return { exitCode: 0, stdout: ['vmsi: done', `VMSI-RESULT {"status":"${mode}","changed":true,"spiffeId":"spiffe://cluster.local/ns/vm-ns/sa/vm-sa","reason":""}`] };
  }
  // The verify step's one command of labelled answers (src/injection/sidecar-checks.ts).
  if (argv.includes('vmsi-verify')) return { exitCode: 0, stdout: ['active=active', 'enabled=enabled', 'readiness=200', 'certificate=absent', 'token=present'] };
  if (joined.includes('is-active')) return { exitCode: 0, stdout: ['active'] };
  if (joined.includes('is-enabled')) return { exitCode: 0, stdout: ['enabled'] };
  if (joined.includes('healthz/ready')) return { exitCode: 0, stdout: ['200'] };
  if (argv[0] === 'test') return { exitCode: 1, stdout: [] };
  return { exitCode: 0, stdout: [] };
}
