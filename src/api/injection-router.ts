import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { InjectionService, SubmitResult } from '../injection/injection-service.js';
import { JOB_KINDS, JOB_STATES, type JobKind } from '../jobs/job.js';
import { requireScope } from './authentication.js';
import { parseQuery, readSpecBody } from './spec-body.js';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const listQuerySchema = z
  .object({
    state: z.enum(JOB_STATES).optional(),
    kind: z.enum(JOB_KINDS).optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
  })
  .strict();

function idempotencyKeyOf(req: Request): string | undefined {
  const key = req.get('idempotency-key');
  if (key === undefined) return undefined;
  if (!IDEMPOTENCY_KEY.test(key)) throw new AppError('INVALID_REQUEST', 'Idempotency-Key must be 1 to 255 visible ASCII characters.');
  return key;
}

function jobIdOf(req: Request): string {
  const id = String(req.params.id);
  if (!JOB_ID.test(id)) throw new AppError('NOT_FOUND', `No injection job ${id}.`);
  return id;
}

function accepted(res: Response, result: SubmitResult): void {
  res.setHeader('Location', `/v1/injections/${result.job.id}`);
  if (!result.created) res.setHeader('Idempotent-Replayed', 'true');
  res.status(202).json(result.job);
}

async function submit(req: Request, res: Response, service: InjectionService, kind: JobKind): Promise<void> {
  const result = await service.submit(kind, readSpecBody(req), idempotencyKeyOf(req));
  accepted(res, result);
}

export function injectionRouter(service: InjectionService): Router {
  const router = Router();
  router.post('/v1/injections', requireScope('write'), (req, res) => submit(req, res, service, 'inject'));
  router.post('/v1/removals', requireScope('write'), (req, res) => submit(req, res, service, 'remove'));
  router.get('/v1/injections', requireScope('read'), async (req, res) => {
    res.json({ items: await service.list(parseQuery(req, listQuerySchema)) });
  });
  router.get('/v1/vms', requireScope('read'), async (_req, res) => {
    res.json({ items: await service.vms() });
  });
  router.get('/v1/injections/:id', requireScope('read'), async (req, res) => {
    res.json(await service.get(jobIdOf(req)));
  });
  router.post('/v1/injections/:id/reonboard', requireScope('write'), async (req, res) => {
    accepted(res, await service.reonboard(jobIdOf(req)));
  });
  router.post('/v1/injections/:id/retry', requireScope('write'), async (req, res) => {
    res.json(await service.retry(jobIdOf(req)));
  });
  router.post('/v1/injections/:id/abandon', requireScope('write'), async (req, res) => {
    res.json(await service.abandon(jobIdOf(req)));
  });
  return router;
}
