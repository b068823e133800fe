import { Router, type Request } from 'express';
import { AppError } from '../errors.js';
import type { OrchestratorService } from '../orchestrator/orchestrator-service.js';
import { dnsLabelSchema } from '../kubernetes-names.js';
import { requireScope } from './authentication.js';
import { readDocumentBody } from './spec-body.js';

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function serviceNameOf(req: Request): string {
  const parsed = dnsLabelSchema.safeParse(req.params.name);
  if (!parsed.success) throw new AppError('NOT_FOUND', `No service ${String(req.params.name)}.`);
  return parsed.data;
}

/** The orchestrator's API (docs/orchestrator.md); `vmsi orchestrator …` calls it. */
export function orchestratorRouter(service: OrchestratorService): Router {
  const router = Router();
  router.post('/v1/orchestrator/deployments', requireScope('write'), async (req, res) => {
    const { deployment, created } = await service.deploy(readDocumentBody(req, 'service descriptor'));
    res.setHeader('Location', `/v1/orchestrator/deployments/${deployment.id}`);
    if (!created) res.setHeader('Idempotent-Replayed', 'true');
    res.status(202).json(deployment);
  });
  router.post('/v1/orchestrator/plans', requireScope('read'), async (req, res) => {
    res.json(await service.plan(readDocumentBody(req, 'service descriptor')));
  });
  router.get('/v1/orchestrator/deployments/:id', requireScope('read'), async (req, res) => {
    const id = String(req.params.id);
    if (!JOB_ID.test(id)) throw new AppError('NOT_FOUND', `No deployment job ${id}.`);
    res.json(await service.job(id));
  });
  router.get('/v1/orchestrator/services', requireScope('read'), async (_req, res) => {
    res.json({ items: await service.services() });
  });
  router.get('/v1/orchestrator/services/:name', requireScope('read'), async (req, res) => {
    res.json(await service.status(serviceNameOf(req)));
  });
  router.delete('/v1/orchestrator/services/:name', requireScope('write'), async (req, res) => {
    const teardown = await service.teardown(serviceNameOf(req));
    res.setHeader('Location', `/v1/orchestrator/deployments/${teardown.id}`);
    res.status(202).json(teardown);
  });
  return router;
}
