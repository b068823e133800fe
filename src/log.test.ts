import { expect } from 'chai';
import { Writable } from 'node:stream';
import { createLogger, redact, registerSecret, REDACTED } from './log.js';

function captureLogger(): { logger: ReturnType<typeof createLogger>; lines: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback): void {
      text += chunk.toString();
      callback();
    },
  });
  return { logger: createLogger({ stream }), lines: () => text };
}

describe('log redaction', function () {
  it('removes values under secret-looking keys at any depth, but keeps their digests', function () {
    const { logger, lines } = captureLogger();
    logger.info('Credentials prepared', { token: 'abc123456789', nested: { password: 'hunter22', tokenSha256: 'f00d' }, headers: { Authorization: 'Bearer xyz' } });
    const line = lines();
    expect(line).not.to.include('abc123456789');
    expect(line).not.to.include('hunter22');
    expect(line).not.to.include('Bearer xyz');
    expect(line).to.include('f00d');
  });

  it('removes JWTs and private key blocks from free text', function () {
    const text = redact('got eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl and -----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----');
    expect(text).to.equal(`got ${REDACTED} and ${REDACTED}`);
  });

  it('removes registered secret values wherever they appear, e.g. in remote output', function () {
    registerSecret('s3cr3t-value-from-vault');
    const { logger, lines } = captureLogger();
    logger.info('Remote output', { line: 'echo s3cr3t-value-from-vault' });
    logger.error('Failed', { error: new Error('bad s3cr3t-value-from-vault') });
    expect(lines()).not.to.include('s3cr3t-value-from-vault');
    expect(lines()).to.include(REDACTED);
  });
});

describe('known secret registry', function () {
  it('stays bounded in a long-running service while still redacting recent secrets', function () {
    for (let i = 0; i < 5000; i++) registerSecret(`minted-token-${i}-xxxxxxxx`);
    expect(redact('leak minted-token-4999-xxxxxxxx')).to.equal(`leak ${REDACTED}`);
    expect(redact('old minted-token-0-xxxxxxxx')).to.equal('old minted-token-0-xxxxxxxx');
  });
});
