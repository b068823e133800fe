import { expect } from 'chai';
import { ESLint } from 'eslint';

/** The boundary rule itself (eslint.config.js): a core file that imports an adapter or a transport fails lint. */
describe('the core imports no adapter (eslint rule)', function () {
  this.timeout(120_000);
  const eslint = new ESLint({ cwd: process.cwd() });

  async function boundaryMessages(filePath: string, code: string): Promise<string[]> {
    const [result] = await eslint.lintText(code, { filePath });
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
