import { expect } from 'chai';
import { AppError, isAppError } from './errors.js';

describe('AppError', function () {
  it('is recognised when this module is loaded a second time, as a CommonJS-and-ESM process does', async function () {
    const second = (await import(`./errors.js?second-instance=${Date.now()}`)) as typeof import('./errors.js');
    expect(second.AppError).not.to.equal(AppError);
    const error = new second.AppError('CONFLICT', 'Written by someone else.', { retryable: true });
    expect(error instanceof AppError).to.equal(true);
    expect(isAppError(error)).to.equal(true);
  });

  it('is not claimed by a plain Error that carries the same fields', function () {
    const lookalike = Object.assign(new Error('x'), { name: 'AppError', code: 'CONFLICT', retryable: true });
    expect(lookalike instanceof AppError).to.equal(false);
  });
});
