import type { Command } from 'commander';
import { exitCodeOf, formatReport } from './doctor-check.js';
import { runDoctor } from './run-doctor.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('Check this setup: config, data dir, credentials, Keystone/Tacker/Nova, Kubernetes RBAC, istiod CA, webhook, clock (exit 0 pass, 1 warn, 2 fail)')
    .option('-n, --namespace <ns>', 'workload namespace to check (repeatable; default: those the Tacker profiles name, else default)', collect, [])
    .option('--json', 'print the report as JSON')
    .action(async (options: { namespace: string[]; json?: boolean }) => {
      const report = await runDoctor({ ...(program.opts<{ config?: string }>().config === undefined ? {} : { file: program.opts<{ config: string }>().config }), namespaces: options.namespace });
      process.stdout.write(options.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
      process.exitCode = exitCodeOf(report);
    });
}
