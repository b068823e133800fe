// Runs under whatever Node the machine has (npm's pre-scripts start before Node 24 is installed):
// installs the locked dependencies, Node 24 among them, when they are missing or stale.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const marker = 'node_modules/.package-lock.json';
const lock = 'package-lock.json';
const isStale = !existsSync(marker) || !existsSync('node_modules/.bin/node') || statSync(marker).mtimeMs < statSync(lock).mtimeMs;
if (isStale) {
  process.stderr.write('vmsi: installing locked dependencies (npm ci)\n');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { stdio: 'inherit' });
}
