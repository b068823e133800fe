import { expect } from 'chai';
import { CALLBACK_PASSWORD, CALLBACK_USER, FULL_APP_TOKENS, basicAuthorization, startFullApp, type FullApp } from '../../test/support/full-app.js';

describe('rate limits', function () {
  this.timeout(30_000);
  let app: FullApp | undefined;

  afterEach(async function () {
    await app?.close();
    app = undefined;
  });

  async function statuses(count: number, path: string, authorization?: string): Promise<Response[]> {
    const answers: Response[] = [];
    for (let index = 0; index < count; index++) {
      answers.push(await fetch(`${app?.url ?? ''}${path}`, authorization === undefined ? {} : { headers: { authorization } }));
    }
    return answers;
  }

  it('stops a burst of unauthenticated requests with 429, Retry-After and a problem document', async function () {
    app = await startFullApp({ http: { rateLimit: { unauthenticated: 20, authenticated: 1000, window: '1m' } } });
    const answers = await statuses(300, '/v1/injections');
    expect(answers.slice(0, 20).every((answer) => answer.status === 401)).to.equal(true);
    const limited = answers.slice(20);
    expect(limited.every((answer) => answer.status === 429)).to.equal(true);
    const first = limited[0];
    expect(Number(first?.headers.get('retry-after'))).to.be.within(1, 60);
    expect(first?.headers.get('content-type')).to.match(/^application\/problem\+json/);
    expect(await first?.json()).to.deep.include({ status: 429, code: 'RATE_LIMITED', title: 'Too Many Requests', retryable: true });
    // Open routes share the address budget: a flood of probes is no way around it.
    expect((await statuses(1, '/healthz'))[0]?.status).to.equal(429);
  });

  it('does not charge authenticated requests to the address budget, and gives each credential its own', async function () {
    app = await startFullApp({ http: { rateLimit: { unauthenticated: 5, authenticated: 10, window: '1m' } } });
    const admin = await statuses(12, '/v1/injections', `Bearer ${FULL_APP_TOKENS.admin}`);
    expect(admin.slice(0, 10).map((answer) => answer.status)).to.deep.equal(Array(10).fill(200));
    expect(admin.slice(10).map((answer) => answer.status)).to.deep.equal([429, 429]);
    const reader = await statuses(3, '/v1/injections', `Bearer ${FULL_APP_TOKENS.reader}`);
    expect(reader.map((answer) => answer.status)).to.deep.equal([200, 200, 200]);
    const tacker = await statuses(3, '/v1/tacker/notifications/v2', basicAuthorization(CALLBACK_USER, CALLBACK_PASSWORD));
    expect(tacker.map((answer) => answer.status)).to.deep.equal([204, 204, 204]);
  });
});
