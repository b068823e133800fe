import { expect } from 'chai';
import { CALLBACK_PASSWORD, CALLBACK_USER, FULL_APP_TOKENS, basicAuthorization, startFullApp, type FullApp } from '../../test/support/full-app.js';

/**
 * How each route authenticates, as docs/api.md, docs/tacker.md and docs/orchestrator.md say. A
 * route the app registers that is missing here fails the test: a new route must state its guard.
 */
// 'page-shell': the status page's static files, which hold no data (everything they show is fetched
// from the API with the operator's token), so a browser can load the sign-in form without one.
type Guard = { kind: 'bearer'; scope: 'read' | 'write'; open?: true } | { kind: 'tacker-callback' } | { kind: 'event-signature' } | { kind: 'page-shell' };

const ROUTES: Record<string, Guard> = {
  'GET /healthz': { kind: 'bearer', scope: 'read', open: true },
  'GET /readyz': { kind: 'bearer', scope: 'read', open: true },
  'GET /metrics': { kind: 'bearer', scope: 'read' },
  'GET /openapi.json': { kind: 'bearer', scope: 'read' },
  'GET /ui': { kind: 'page-shell' },
  'GET /ui/': { kind: 'page-shell' },
  'GET /ui/status-page.css': { kind: 'page-shell' },
  'GET /ui/status-page.js': { kind: 'page-shell' },
  'GET /v1/vms': { kind: 'bearer', scope: 'read' },
  'GET /v1/orchestrator/services': { kind: 'bearer', scope: 'read' },
  'POST /v1/render': { kind: 'bearer', scope: 'read' },
  'POST /v1/injections': { kind: 'bearer', scope: 'write' },
  'POST /v1/removals': { kind: 'bearer', scope: 'write' },
  'GET /v1/injections': { kind: 'bearer', scope: 'read' },
  'GET /v1/injections/:id': { kind: 'bearer', scope: 'read' },
  'POST /v1/injections/:id/reonboard': { kind: 'bearer', scope: 'write' },
  'POST /v1/injections/:id/retry': { kind: 'bearer', scope: 'write' },
  'POST /v1/injections/:id/abandon': { kind: 'bearer', scope: 'write' },
  'POST /v1/tacker/mgmt': { kind: 'bearer', scope: 'write' },
  'POST /v1/tacker/reconcile': { kind: 'bearer', scope: 'write' },
  'POST /v1/orchestrator/deployments': { kind: 'bearer', scope: 'write' },
  'POST /v1/orchestrator/plans': { kind: 'bearer', scope: 'read' },
  'GET /v1/orchestrator/deployments/:id': { kind: 'bearer', scope: 'read' },
  'GET /v1/orchestrator/services/:name': { kind: 'bearer', scope: 'read' },
  'DELETE /v1/orchestrator/services/:name': { kind: 'bearer', scope: 'write' },
  'GET /v1/tacker/notifications/v1': { kind: 'tacker-callback' },
  'POST /v1/tacker/notifications/v1': { kind: 'tacker-callback' },
  'GET /v1/tacker/notifications/v2': { kind: 'tacker-callback' },
  'POST /v1/tacker/notifications/v2': { kind: 'tacker-callback' },
  'POST /v1/orchestrator/events': { kind: 'event-signature' },
  'GET /v1/orchestrator/tacker/notifications': { kind: 'tacker-callback' },
  'POST /v1/orchestrator/tacker/notifications': { kind: 'tacker-callback' },
};

function concretePath(pattern: string): string {
  return pattern.replace(':id', '00000000-0000-4000-8000-000000000000').replace(':name', 'shop');
}

describe('route table', function () {
  this.timeout(30_000);
  let app: FullApp;

  before(async function () {
    // Generous budgets: this test is about who may call, not how often.
    app = await startFullApp({ http: { rateLimit: { unauthenticated: 10_000, authenticated: 10_000 } } });
  });

  after(async function () {
    await app.close();
  });

  async function call(route: string, authorization?: string): Promise<{ status: number; contentType: string | null }> {
    const [method = 'GET', pattern = '/'] = route.split(' ');
    const hasBody = method === 'POST';
    const response = await fetch(`${app.url}${concretePath(pattern)}`, {
      method,
      headers: { ...(authorization === undefined ? {} : { authorization }), ...(hasBody ? { 'content-type': 'application/json' } : {}) },
      ...(hasBody ? { body: '{}' } : {}),
    });
    await response.arrayBuffer();
    return { status: response.status, contentType: response.headers.get('content-type') };
  }

  it('knows the guard of every route the app registers', function () {
    const registered = app.routes.map((route) => `${route.method} ${route.path}`).sort();
    expect(registered).to.deep.equal(Object.keys(ROUTES).sort());
  });

  it('answers every route without credentials with 401, except the documented open ones', async function () {
    for (const [route, guard] of Object.entries(ROUTES)) {
      const answer = await call(route);
      if ((guard.kind === 'bearer' && guard.open === true) || guard.kind === 'page-shell') {
        expect(answer.status, route).to.equal(200);
        continue;
      }
      expect(answer.status, route).to.equal(401);
      expect(answer.contentType, route).to.match(/^application\/problem\+json/);
    }
  });

  it('answers every guarded route with wrong credentials with 401', async function () {
    const wrong: Record<Exclude<Guard['kind'], 'page-shell'>, string> = {
      bearer: 'Bearer not-a-token-of-this-service',
      'tacker-callback': basicAuthorization(CALLBACK_USER, 'wrong-password'),
      'event-signature': `Bearer ${FULL_APP_TOKENS.admin}`,
    };
    for (const [route, guard] of Object.entries(ROUTES)) {
      if ((guard.kind === 'bearer' && guard.open === true) || guard.kind === 'page-shell') continue;
      expect((await call(route, wrong[guard.kind])).status, route).to.equal(401);
    }
    // An API token, however strong, is no Tacker credential.
    expect((await call('POST /v1/tacker/notifications/v2', `Bearer ${FULL_APP_TOKENS.admin}`)).status).to.equal(401);
  });

  it('answers a token lacking the route scope with 403 on every route not configured open', async function () {
    const lacking = { read: FULL_APP_TOKENS.writer, write: FULL_APP_TOKENS.reader };
    for (const [route, guard] of Object.entries(ROUTES)) {
      if (guard.kind !== 'bearer' || guard.open === true) continue;
      const answer = await call(route, `Bearer ${lacking[guard.scope]}`);
      expect(answer.status, route).to.equal(403);
    }
  });

  it('lets the right credentials past the guard', async function () {
    for (const [route, guard] of Object.entries(ROUTES)) {
      const authorization = guard.kind === 'tacker-callback' ? basicAuthorization(CALLBACK_USER, CALLBACK_PASSWORD) : `Bearer ${FULL_APP_TOKENS.admin}`;
      if (guard.kind === 'event-signature') continue;
      expect([401, 403], route).not.to.include((await call(route, authorization)).status);
    }
  });
});
