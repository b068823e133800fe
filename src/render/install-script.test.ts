import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const scriptPath = 'cloud-init/install-sidecar.sh';

function scriptLines(): string[] {
  return readFileSync(new URL(`../../${scriptPath}`, import.meta.url), 'utf8').split('\n');
}

/** The script's code with comments and quoted awk programs left in: only whole-line comments go. */
function codeLines(): string[] {
  return scriptLines().filter((line) => !/^\s*#/.test(line));
}

describe('install-sidecar.sh (static checks)', function () {
  it('passes shellcheck with no exclusions', function () {
    // CI installs shellcheck (scripts/prepare-test-host.sh); a missing one fails here, never skips.
    const result = spawnSync('shellcheck', ['-x', scriptPath], { cwd: repoRoot, encoding: 'utf8' });
    expect(result.error, 'shellcheck must be installed').to.equal(undefined);
    expect(result.status, `${result.stdout}${result.stderr}`).to.equal(0);
    expect(scriptLines().filter((line) => line.includes('shellcheck disable'))).to.deep.equal([]);
  });

  it('never evaluates strings as code', function () {
    expect(codeLines().filter((line) => /(^|[\s;&|(])eval(\s|$)/.test(line))).to.deep.equal([]);
  });

  it('never sources a bundle file', function () {
    const sourcing = codeLines().filter((line) => /(^|[\s;&|(])(source|\.)\s+\S/.test(line));
    expect(sourcing).to.deep.equal([]);
    expect(codeLines().filter((line) => /(source|\.)\s+\S*injector\.env/.test(line))).to.deep.equal([]);
  });

  it('reads injector.env with a read loop against a key whitelist', function () {
    const text = scriptLines().join('\n');
    expect(text).to.match(/while IFS= read -r line[^\n]*\n(?:[^\n]*\n){0,12}?[^\n]*is_injector_key "\$key"/);
    expect(text).to.match(/done <"\$file"/);
  });
});
