import type { Command } from 'commander';
import { stringify } from 'yaml';
import { loadConfig } from '../../config.js';
import { redact } from '../../log.js';

export function registerConfigCommand(program: Command): void {
  const config = program.command('config').description('Inspect the configuration');
  config
    .command('check')
    .description('Validate the configuration and print the effective values, secrets masked')
    .action(() => {
      const effective = loadConfig({ file: program.opts<{ config?: string }>().config });
      process.stdout.write(stringify(redact(effective)));
    });
}
