import { isAppError } from '../../errors.js';
import { redactText } from '../../log.js';

/**
 * One line of a doctor report, as kube-bench prints its checks. `info` marks a check that does not
 * apply to this configuration (no Tacker section, no webhook): it never changes the exit code.
 */
export type CheckStatus = 'pass' | 'info' | 'warn' | 'fail';

export interface CheckResult {
  /** Stable, for scripts: `config`, `data-dir`, `credentials`, `keystone`, `kubernetes-rbac`, … */
  id: string;
  title: string;
  status: CheckStatus;
  detail: string;
  /** What to do about a warn or fail. */
  hint?: string;
  /** The problem code of the error behind a failure. */
  code?: string;
  /** Individual findings of a check that looks at several things (one per file, per permission). */
  findings?: string[];
}

export interface DoctorReport {
  status: CheckStatus;
  checks: CheckResult[];
}

const SEVERITY: Record<CheckStatus, number> = { pass: 0, info: 0, warn: 1, fail: 2 };

/** The process exit code: 0 when nothing is wrong, 1 for a warning at worst, 2 for a failure. */
export function exitCodeOf(report: DoctorReport): number {
  return SEVERITY[report.status];
}

export function reportOf(checks: CheckResult[]): DoctorReport {
  const worst = checks.reduce<CheckStatus>((current, check) => (SEVERITY[check.status] > SEVERITY[current] ? check.status : current), 'pass');
  return { status: worst, checks };
}

export function check(id: string, title: string, outcome: Omit<CheckResult, 'id' | 'title'>): CheckResult {
  return { id, title, ...outcome };
}

/** A failed check made from what a client threw: its code and redacted message, never a secret. */
export function failedCheck(id: string, title: string, error: unknown, hint: string): CheckResult {
  const message = error instanceof Error ? error.message : String(error);
  return {
    id,
    title,
    status: 'fail',
    detail: redactText(message),
    hint,
    ...(isAppError(error) ? { code: error.code } : {}),
  };
}

const LABELS: Record<CheckStatus, string> = { pass: 'PASS', info: 'INFO', warn: 'WARN', fail: 'FAIL' };

/** The human report: one `[STATUS] title: detail` line per check, findings and hints indented. */
export function formatReport(report: DoctorReport): string {
  const lines: string[] = [];
  for (const item of report.checks) {
    lines.push(`[${LABELS[item.status]}] ${item.title}: ${item.detail}`);
    for (const finding of item.findings ?? []) lines.push(`       - ${finding}`);
    if (item.hint !== undefined && item.status !== 'pass' && item.status !== 'info') lines.push(`       hint: ${item.hint}`);
  }
  const counts = (['pass', 'info', 'warn', 'fail'] as const).map((status) => `${report.checks.filter((item) => item.status === status).length} ${status}`);
  lines.push('', `== Summary: ${counts.join(', ')} ==`);
  return `${lines.join('\n')}\n`;
}
