import type { Job, JobError, JobKind, JobState, JsonValue, StepState } from '../jobs/job.js';
import type { JobLogLine } from '../jobs/job-store.js';

/** What the API and CLI show of a job: times as RFC 3339, nothing secret (the record holds none). */
export interface JobView {
  id: string;
  kind: JobKind;
  state: JobState;
  stateReason: string;
  subjectKey: string;
  vm: { name: string; address: string; serverId?: string };
  mesh: { namespace: string; workloadGroup: string };
  steps: Array<{ name: string; state: StepState; attempts: number; startedAt: string | null; finishedAt: string | null; durationMs: number; lastError: JobError | null; output: JsonValue | null }>;
  lastError: JobError | null;
  nextAttemptAt: string | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  log?: string[];
  /** The failure announcements sent for this job, with their delivery report. */
  notifications?: Array<{ id: string; state: JobState; report: JsonValue | null }>;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function field(value: JsonValue | undefined, key: string): string | undefined {
  if (value === null || value === undefined || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const inner = value[key];
  return typeof inner === 'string' ? inner : undefined;
}

function section(spec: JsonValue | undefined, key: string): JsonValue | undefined {
  return typeof spec === 'object' && spec !== null && !Array.isArray(spec) ? spec[key] : undefined;
}

export function toJobView(job: Job, log?: readonly JobLogLine[]): JobView {
  const vm = section(job.input.spec, 'vm');
  const mesh = section(job.input.spec, 'mesh');
  const serverId = field(vm, 'serverId');
  return {
    id: job.id,
    kind: job.kind,
    state: job.state,
    stateReason: job.stateReason,
    subjectKey: job.subjectKey,
    vm: { name: field(vm, 'name') ?? '', address: field(vm, 'address') ?? '', ...(serverId === undefined ? {} : { serverId }) },
    mesh: { namespace: field(mesh, 'namespace') ?? '', workloadGroup: field(mesh, 'workloadGroup') ?? '' },
    steps: job.steps.map((step) => ({ ...step, startedAt: iso(step.startedAt), finishedAt: iso(step.finishedAt) })),
    lastError: job.lastError,
    nextAttemptAt: iso(job.nextAttemptAt),
    createdAt: new Date(job.createdAt).toISOString(),
    updatedAt: new Date(job.updatedAt).toISOString(),
    finishedAt: iso(job.finishedAt),
    ...(log === undefined ? {} : { log: log.map((line) => `${new Date(line.at).toISOString()} ${line.line}`) }),
  };
}
