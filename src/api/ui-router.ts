import { readFileSync } from 'node:fs';
import { Router, type Response } from 'express';

export const UI_PATH = '/ui';

const ASSETS: Record<string, { file: string; type: string }> = {
  [UI_PATH]: { file: 'index.html', type: 'text/html; charset=utf-8' },
  [`${UI_PATH}/`]: { file: 'index.html', type: 'text/html; charset=utf-8' },
  [`${UI_PATH}/status-page.js`]: { file: 'status-page.js', type: 'text/javascript; charset=utf-8' },
  [`${UI_PATH}/status-page.css`]: { file: 'status-page.css', type: 'text/css; charset=utf-8' },
};

/** The page runs only its own script and talks only to this origin; it may not be framed. */
const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function sendAsset(res: Response, asset: { body: Buffer; type: string }): void {
  res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cache-Control', 'no-cache');
  res.type(asset.type).send(asset.body);
}

/**
 * The status page's static shell (ui/ beside src/ and dist/). It holds no data and needs no token
 * to load, like a login form: every job, VM and service it shows is fetched from the API with the
 * bearer token the operator types in, so the page reads exactly what that token may read.
 */
export function uiRouter(): Router {
  const dir = new URL('../../ui/', import.meta.url);
  const loaded = Object.entries(ASSETS).map(([path, { file, type }]) => [path, { body: readFileSync(new URL(file, dir)), type }] as const);
  const router = Router();
  for (const [path, asset] of loaded) {
    router.get(path, (_req, res) => {
      sendAsset(res, asset);
    });
  }
  return router;
}
