import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const ESLINT_BIN = path.join(path.dirname(createRequire(import.meta.url).resolve('eslint/package.json')), 'bin', 'eslint.js');

/**
 * The boundary rule itself (eslint.config.js): a core file that imports an adapter or a transport fails lint.
 * ESLint runs in a child: typed linting builds the project's whole TypeScript program, several
 * hundred MB that typescript-eslint caches for the life of the process, here the mocha process.
 */
describe('the core imports no adapter (eslint rule)', function () {
  this.timeout(120_000);

  async function boundaryMessages(filePath: string, code: string): Promise<string[]> {
    const child = spawn(process.execPath, [ESLINT_BIN, '--stdin', '--stdin-filename', filePath, '--format', 'json'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stdin.end(code);
    const exitCode = await new Promise<number | null>((resolve, reject) => child.on('error', reject).on('close', resolve));
    // 1 means lint errors were found, which some cases expect; anything else is ESLint failing.
    expect(exitCode, stdout).to.be.oneOf([0, 1]);
    const [result] = JSON.parse(stdout) as Array<{ messages: Array<{ ruleId: string | null; message: string }> }>;
    return (result?.messages ?? []).filter((message) => message.ruleId === 'no-restricted-imports').map((message) => message.message);
  }

  it('rejects an adapter module and a transport package imported by a core file', async function () {
    const messages = await boundaryMessages(
      'src/injection/injection-steps.ts',
      "import { sshBundleDelivery } from '../ssh/deliver-bundle.js';\nimport express from 'express';\nexport const used = [sshBundleDelivery, express];\n",
    );
    expect(messages).to.have.length(2);
    expect(messages[0]).to.include('The core imports no adapter');
    expect(messages[1]).to.include('transport belongs in an adapter');
  });

  it('accepts ports and lets adapters and the composition root import adapters', async function () {
    expect(await boundaryMessages('src/injection/injection-steps.ts', "import type { BundleDelivery } from './bundle-delivery.js';\nexport type Used = BundleDelivery;\n")).to.deep.equal([]);
    expect(await boundaryMessages('src/main.ts', "import { sshBundleDelivery } from './ssh/deliver-bundle.js';\nexport const used = sshBundleDelivery;\n")).to.deep.equal([]);
  });
});
