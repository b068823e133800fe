import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { buildRemoteCommand, quotePosix } from './remote-command.js';

/** What a POSIX shell makes of the command line: the argv the remote program would receive. */
function argvAfterShell(command: string): string[] {
  const result = spawnSync('sh', ['-c', `for a in ${command}; do printf '%s\\0' "$a"; done`], { encoding: 'utf8' });
  expect(result.status, result.stderr).to.equal(0);
  return result.stdout.split('\0').slice(0, -1);
}

describe('remote command quoting', function () {
  it('single-quotes every argument and writes a quote as the four characters \'\\\'\'', function () {
    expect(quotePosix('plain')).to.equal("'plain'");
    expect(quotePosix('')).to.equal("''");
    expect(quotePosix("it's")).to.equal(`'it'\\''s'`);
  });

  it('hands the remote program exactly the argv it was given, whatever the characters', function () {
    const hostile = ["it's", '$(touch /tmp/pwned)', '`id`', 'a;b&&c|d', '  spaced  out ', 'new\nline', '*', '~root', '"double"', '\\', '$HOME', "''", '-n', ''];
    expect(argvAfterShell(hostile.map(quotePosix).join(' '))).to.deep.equal(hostile);
  });

  it('prefixes sudo -n -- when asked, so sudo never prompts and never reads the command as options', function () {
    expect(buildRemoteCommand(['id', '-u'], { sudo: true })).to.equal("'sudo' '-n' '--' 'id' '-u'");
    expect(buildRemoteCommand(['id', '-u'])).to.equal("'id' '-u'");
  });

  it('refuses an empty argv and NUL bytes instead of sending something else', function () {
    expect(() => buildRemoteCommand([])).to.throw('at least a program name');
    expect(() => buildRemoteCommand(['echo', 'a\0b'])).to.throw('NUL');
  });
});
