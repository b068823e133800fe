import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { createTwoFilesPatch } from 'diff';

/** One switch rewrites every golden file: UPDATE_GOLDEN=1 npm test. */
export const isUpdatingGolden = process.env.UPDATE_GOLDEN === '1';

/**
 * Compares produced files with a folder of expected ones, byte for byte. A missing or unexpected
 * file fails as surely as a changed one; a change is shown as a unified diff.
 */
export function assertMatchesGoldenDir(actual: Map<string, Buffer>, expectedDir: string): void {
  if (isUpdatingGolden) {
    rmSync(expectedDir, { recursive: true, force: true });
    mkdirSync(expectedDir, { recursive: true });
    for (const [name, content] of actual) writeFileSync(path.join(expectedDir, name), content);
    return;
  }
  const expectedNames = existsSync(expectedDir) ? readdirSync(expectedDir).sort() : [];
  const problems: string[] = [];
  for (const name of expectedNames) {
    if (!actual.has(name)) problems.push(`missing output file: ${name} (expected in ${expectedDir})`);
  }
  for (const [name, content] of [...actual].sort(([a], [b]) => a.localeCompare(b))) {
    if (!expectedNames.includes(name)) {
      problems.push(`unexpected output file: ${name}`);
      continue;
    }
    const expected = readFileSync(path.join(expectedDir, name));
    if (!expected.equals(content)) {
      problems.push(createTwoFilesPatch(`expected/${name}`, `actual/${name}`, expected.toString('utf8'), content.toString('utf8')));
    }
  }
  if (problems.length > 0) {
    throw new Error(`golden files differ in ${expectedDir} (rewrite with UPDATE_GOLDEN=1 if intended):\n${problems.join('\n')}`);
  }
}
