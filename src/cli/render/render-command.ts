import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../config.js';
import { AppError } from '../../errors.js';
import { parseInjectionSpec } from '../../injection-spec.js';
import { renderDependencies } from '../../main.js';
import { renderCloudInitUserData } from '../../render/cloud-init-user-data.js';
import { maskSecrets } from '../../render/injection-bundle.js';
import { renderInjection } from '../../render/render-injection.js';

interface RenderOptions {
  spec: string;
  out: string;
  cloudInit?: boolean;
  maskSecrets?: boolean;
  json?: boolean;
}

async function readSpecFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new AppError('INVALID_REQUEST', `Spec file ${file} cannot be read.`, { cause });
  }
  try {
    return parseYaml(text);
  } catch (cause) {
    throw new AppError('INVALID_SPEC', `Spec file ${file} is not valid YAML or JSON.`, { cause });
  }
}

async function writeOutput(dir: string, name: string, content: Buffer | string, mode: number): Promise<void> {
  const file = path.join(dir, name);
  await writeFile(file, content, { mode });
  // writeFile keeps an existing file's mode; a re-render must still tighten it.
  await chmod(file, mode);
}

interface RenderSummary {
  out: string;
  vm: string;
  spiffeId: string;
  files: Array<{ name: string; mode: number }>;
  /** istio-token holds a usable token (no --mask-secrets). */
  liveToken: boolean;
  identity: string;
}

function printRendered(summary: RenderSummary, asJson: boolean): void {
  if (asJson) {
    const { identity: _identity, ...fields } = summary;
    process.stdout.write(`${JSON.stringify({ ...fields, files: summary.files.map((file) => ({ name: file.name, mode: file.mode.toString(8).padStart(4, '0') })) })}\n`);
    return;
  }
  process.stdout.write(`Rendered ${summary.files.length - (summary.files.some((file) => file.name === 'user-data') ? 1 : 0)} files for ${summary.vm} (${summary.spiffeId}) into ${summary.out}\n`);
  if (summary.liveToken) process.stdout.write(`Warning: ${path.join(summary.out, 'istio-token')} holds a live token for ${summary.identity}.\n`);
}

export function registerRenderCommand(program: Command): void {
  program
    .command('render')
    .description('Dry run: write the files a VM would receive (and its cloud-init user-data) into a folder')
    .requiredOption('--spec <file>', 'injection spec, YAML or JSON')
    .requiredOption('--out <dir>', 'output folder (created 0700)')
    .option('--cloud-init', 'also render #cloud-config user-data (delivery method cloud-init)')
    .option('--mask-secrets', 'write the token as its sha256 instead of its value')
    .option('--json', 'print what was written as JSON')
    .action(async (options: RenderOptions) => {
      const config = loadConfig({ file: program.opts<{ config?: string }>().config });
      const parsed = parseInjectionSpec(await readSpecFile(options.spec));
      const spec = options.cloudInit ? { ...parsed, delivery: { ...parsed.delivery, method: 'cloud-init' as const } } : parsed;
      const rendered = await renderInjection(spec, await renderDependencies(config));
      const bundle = options.maskSecrets ? maskSecrets(rendered) : rendered;
      await mkdir(options.out, { recursive: true, mode: 0o700 });
      for (const file of bundle.files) await writeOutput(options.out, file.name, file.content, file.mode);
      if (spec.delivery.method === 'cloud-init') await writeOutput(options.out, 'user-data', renderCloudInitUserData(bundle), 0o600);
      const written = [...bundle.files.map((file) => ({ name: file.name, mode: file.mode })), ...(spec.delivery.method === 'cloud-init' ? [{ name: 'user-data', mode: 0o600 }] : [])];
      printRendered({ out: options.out, vm: spec.vm.name, spiffeId: bundle.identity.spiffeId, files: written, liveToken: options.maskSecrets !== true, identity: `${spec.mesh.namespace}/${spec.mesh.serviceAccount}` }, options.json === true);
    });
}
