import { access, constants } from 'node:fs/promises';
import { Router } from 'express';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { requireScope } from './authentication.js';

export const healthSchema = z.object({ status: z.literal('ok') }).meta({ id: 'Health' });
export const readinessSchema = z
  .object({ status: z.enum(['ready', 'not-ready']), checks: z.array(z.object({ name: z.string(), ok: z.boolean() })) })
  .meta({ id: 'Readiness' });

export interface ReadinessCheck {
  name: string;
  check: () => Promise<void>;
}

export function dataDirWritable(dataDir: string): ReadinessCheck {
  return { name: 'dataDir', check: () => access(dataDir, constants.W_OK) };
}

export function healthRouter(checks: ReadinessCheck[], registry: Registry): Router {
  const router = Router();
  router.get('/healthz', requireScope('read'), (_req, res) => {
    const body: z.infer<typeof healthSchema> = { status: 'ok' };
    res.status(200).json(body);
  });
  router.get('/readyz', requireScope('read'), async (_req, res) => {
    const results = await Promise.all(
      checks.map(async ({ name, check }) => {
        try {
          await check();
          return { name, ok: true };
        } catch {
          return { name, ok: false };
        }
      }),
    );
    const ready = results.every((result) => result.ok);
    const body: z.infer<typeof readinessSchema> = { status: ready ? 'ready' : 'not-ready', checks: results };
    res.status(ready ? 200 : 503).json(body);
  });
  router.get('/metrics', requireScope('read'), async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  return router;
}
