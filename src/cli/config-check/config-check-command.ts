import type { Command } from 'commander';
import { stringify } from 'yaml';
import { loadConfig } from '../../config.js';
import { redact } from '../../log.js';

export function registerConfigCommand(program: Command): void {
  const config = program.command('config').description('Inspect the configuration');
  config
    .command('check')
    .description('Validate the configuration and print the effective values, secrets masked')
    .option('--json', 'print it as JSON instead of YAML')
    .action((options: { json?: boolean }) => {
      const effective = redact(loadConfig({ file: program.opts<{ config?: string }>().config }));
      process.stdout.write(options.json === true ? `${JSON.stringify(effective, null, 2)}\n` : stringify(effective));
    });
}
