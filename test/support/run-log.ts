import { appendFileSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.js';

/**
 * Everything the suite's loggers, CLI runs and VM scripts print is appended here, so that one
 * check after the whole run can prove no test secret was ever written.
 */
export const RUN_LOG_PATH = path.join(os.tmpdir(), `vmsi-test-run-${process.pid}.log`);
if (!existsSync(RUN_LOG_PATH)) writeFileSync(RUN_LOG_PATH, '', { mode: 0o600 });

export function appendToRunLog(source: string, text: string): void {
  if (text.length === 0) return;
  appendFileSync(RUN_LOG_PATH, `--- ${source}\n${text}${text.endsWith('\n') ? '' : '\n'}`);
}

export function readRunLog(): string {
  return readFileSync(RUN_LOG_PATH, 'utf8');
}

/** A logger whose JSON lines land in the run log (and nowhere else: test output stays readable). */
export function createTestLogger(level = 'debug'): Logger {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback): void {
      appendFileSync(RUN_LOG_PATH, chunk);
      callback();
    },
  });
  return createLogger({ level, stream: sink });
}
