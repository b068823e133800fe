import { z } from 'zod';
import { ERROR_CODES } from '../errors.js';
import { JOB_KINDS, JOB_STATES, STEP_STATES, type Job, type JsonValue } from '../jobs/job.js';
import type { JobLogLine } from '../jobs/job-store.js';

const timestamp = z.iso.datetime().meta({ description: 'RFC 3339, UTC' });

export const jobErrorSchema = z
  .object({ code: z.enum(ERROR_CODES), message: z.string(), retryable: z.boolean() })
  .meta({ id: 'JobError', description: 'What is kept of a failure: the stable code, a message for operators, whether a retry may help.' });

export const jobStepViewSchema = z
  .object({
    name: z.string(),
    state: z.enum(STEP_STATES),
    attempts: z.number().int().min(0),
    startedAt: timestamp.nullable(),
    finishedAt: timestamp.nullable(),
    durationMs: z.number().min(0),
    lastError: jobErrorSchema.nullable(),
    output: z.json().nullable().meta({ description: 'Small JSON the step returned (fingerprints, a result line).' }),
  })
  .meta({ id: 'JobStep' });

/** What the API and CLI show of a job: times as RFC 3339, nothing secret (the record holds none). */
export const jobViewSchema = z
  .object({
    id: z.uuid(),
    kind: z.enum(JOB_KINDS),
    state: z.enum(JOB_STATES),
    stateReason: z.string(),
    subjectKey: z.string(),
    vm: z.object({ name: z.string(), address: z.string(), serverId: z.string().optional() }),
    mesh: z.object({ namespace: z.string(), workloadGroup: z.string() }),
    steps: z.array(jobStepViewSchema),
    lastError: jobErrorSchema.nullable(),
    nextAttemptAt: timestamp.nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
    finishedAt: timestamp.nullable(),
    log: z.array(z.string()).optional().meta({ description: 'The redacted log tail, oldest first; only on GET of one job.' }),
    notifications: z
      .array(z.object({ id: z.uuid(), state: z.enum(JOB_STATES), report: z.json().nullable() }))
      .optional()
      .meta({ description: 'The failure announcements sent for this job, with their delivery report.' }),
  })
  .meta({ id: 'Job' });
export type JobView = z.infer<typeof jobViewSchema>;

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
