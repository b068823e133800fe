import type { JobView } from '../injection/job-view.js';

const STEP_MARK: Record<string, string> = { succeeded: '✓', failed: '✗', running: '…', pending: ' ', skipped: '-' };

function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function formatJobLine(job: JobView): string {
  return `${job.id}  ${job.kind.padEnd(6)}  ${job.state.padEnd(11)}  ${job.vm.name} ${job.vm.address}  ${job.mesh.namespace}/${job.mesh.workloadGroup}`;
}

export function formatStep(step: JobView['steps'][number]): string {
  const attempts = step.attempts > 1 ? `  ${step.attempts} attempts` : '';
  const error = step.lastError ? `  ${step.lastError.code}: ${step.lastError.message}` : '';
  return `  ${STEP_MARK[step.state] ?? '?'} ${step.name.padEnd(12)} ${step.state.padEnd(9)} ${duration(step.durationMs).padStart(9)}${attempts}${error}`;
}

export function formatJob(job: JobView, options: { logLines?: number } = {}): string {
  const lines = [formatJobLine(job), `  state reason: ${job.stateReason || '-'}`, ...job.steps.map(formatStep)];
  if (job.lastError) lines.push(`  last error: ${job.lastError.code}: ${job.lastError.message}`);
  const log = job.log ?? [];
  if (log.length > 0 && (options.logLines ?? 20) > 0) lines.push('  log:', ...log.slice(-(options.logLines ?? 20)).map((line) => `    ${line}`));
  return `${lines.join('\n')}\n`;
}
