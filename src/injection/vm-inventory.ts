import { z } from 'zod';
import { JOB_KINDS, JOB_STATES, type Job, type JsonValue } from '../jobs/job.js';
import { toJobView } from './job-view.js';

export const vnfVmsSchema = z
  .object({
    vnfInstanceId: z.string().nullable().meta({ description: 'The Tacker VNF instance; null for VMs injected by hand.' }),
    vms: z.array(
      z.object({
        subjectKey: z.string(),
        name: z.string(),
        address: z.string(),
        serverId: z.string().optional(),
        vduId: z.string().optional(),
        lastJob: z.object({ id: z.uuid(), kind: z.enum(JOB_KINDS), state: z.enum(JOB_STATES), updatedAt: z.iso.datetime() }),
      }),
    ),
  })
  .meta({ id: 'VnfVms', description: 'The VMs of one VNF instance, each with the newest injection or removal job that touched it.' });
export type VnfVms = z.infer<typeof vnfVmsSchema>;

function contextField(job: Job, key: string): string | undefined {
  const context: JsonValue | undefined = job.input.context;
  if (typeof context !== 'object' || context === null || Array.isArray(context)) return undefined;
  const value = context[key];
  return typeof value === 'string' ? value : undefined;
}

/** Groups VMs by VNF instance from their newest job: what the status page shows as "VMs per VNF". */
export function vmInventory(jobs: readonly Job[]): VnfVms[] {
  const newest = new Map<string, Job>();
  for (const job of jobs) {
    const known = newest.get(job.subjectKey);
    if (known === undefined || job.createdAt > known.createdAt) newest.set(job.subjectKey, job);
  }
  const byVnf = new Map<string | null, VnfVms['vms']>();
  for (const job of [...newest.values()].sort((a, b) => a.subjectKey.localeCompare(b.subjectKey))) {
    const view = toJobView(job);
    const vnfInstanceId = contextField(job, 'vnfInstanceId') ?? null;
    const vduId = contextField(job, 'vduId');
    const vms = byVnf.get(vnfInstanceId) ?? [];
    vms.push({ subjectKey: job.subjectKey, ...view.vm, ...(vduId === undefined ? {} : { vduId }), lastJob: { id: job.id, kind: job.kind, state: job.state, updatedAt: view.updatedAt } });
    byVnf.set(vnfInstanceId, vms);
  }
  return [...byVnf.entries()].map(([vnfInstanceId, vms]) => ({ vnfInstanceId, vms }));
}
