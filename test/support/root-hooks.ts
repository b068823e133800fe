import { rmSync } from 'node:fs';
import { RUN_LOG_PATH, readRunLog } from './run-log.js';
import { TEST_TOKEN_MARKER } from './test-credentials.js';

/** Private keys in any OpenSSH or PEM form; the lab's test keys are among them. */
const PRIVATE_KEY_MARKER = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

export const mochaHooks = {
  afterAll(): void {
    const log = readRunLog();
    const leaks: string[] = [];
    if (log.includes(TEST_TOKEN_MARKER)) leaks.push('a test service account token');
    if (PRIVATE_KEY_MARKER.test(log)) leaks.push('a private key');
    if (leaks.length > 0) {
      throw new Error(`The test run wrote ${leaks.join(' and ')} into its logs or outputs; see ${RUN_LOG_PATH}`);
    }
    if (process.env.VMSI_KEEP_RUN_LOG !== "1") rmSync(RUN_LOG_PATH, { force: true });
  },
};
