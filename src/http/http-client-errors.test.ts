import { expect } from 'chai';
import { describeTransportError, errorBodyMessage, isNotSent, isRetryableStatus, withMessage } from './http-client-errors.js';

describe('HTTP client error mapping', function () {
  it('retries 408, 429 and 5xx of idempotent requests, and of others only what the server cannot have acted on', function () {
    expect([400, 404, 408, 429, 500, 502, 503].map((status) => isRetryableStatus(status))).to.deep.equal([false, false, true, true, true, true, true]);
    expect([408, 429, 500, 502, 503].map((status) => isRetryableStatus(status, { idempotent: false }))).to.deep.equal([true, true, false, false, true]);
  });

  it('names a transport failure by its errno or as a timeout', function () {
    expect(describeTransportError(new TypeError('fetch failed', { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) }))).to.equal('ECONNREFUSED');
    expect(describeTransportError(new DOMException('late', 'TimeoutError'))).to.equal('timeout');
    expect(describeTransportError(Object.assign(new Error('tls'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }))).to.equal('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(describeTransportError('odd')).to.equal('unknown error');
    expect(isNotSent('ECONNREFUSED')).to.equal(true);
    expect(isNotSent('ECONNRESET')).to.equal(false);
  });

  it('reads the server message from a JSON body, bounded, and says nothing of a body that is not JSON', function () {
    const pick = (body: object): unknown => (body as { detail?: unknown }).detail;
    expect(errorBodyMessage('{"detail":"no such instance"}', pick)).to.equal('no such instance');
    expect(errorBodyMessage(JSON.stringify({ detail: 'x'.repeat(500) }), pick, 10)).to.equal('x'.repeat(10));
    expect(errorBodyMessage('<html>', pick)).to.equal(undefined);
    expect(errorBodyMessage('{"detail":""}', pick)).to.equal(undefined);
    expect(withMessage('Quota exceeded.')).to.equal(': Quota exceeded.');
    expect(withMessage(undefined)).to.equal('.');
  });
});
