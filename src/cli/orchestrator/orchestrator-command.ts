import type { Command } from 'commander';
import { registerApplyCommand } from './apply/apply-command.js';
import { registerCnfFilesCommand } from './cnf-files/cnf-files-command.js';
import { registerDeployCommand } from './deploy/deploy-command.js';
import { registerStatusCommand } from './status/status-command.js';
import { registerTeardownCommand } from './teardown/teardown-command.js';

const GROUP_HELP = `
A service descriptor (docs/service-descriptor.md) names every microservice, VM or container, and
the connections between them; the service deploys it as a durable job. The service validates the
descriptor and lists every problem at once.

Examples:
  vmsi orchestrator deploy shop.yaml --wait
  vmsi orchestrator apply shop.yaml --dry-run
  vmsi orchestrator cnf-files shop.yaml --out packages
  vmsi orchestrator status shop
  vmsi orchestrator teardown shop --wait`;

export function registerOrchestratorCommands(program: Command): void {
  const group = program
    .command('orchestrator')
    .description('Deploy services of VM and container microservices from a descriptor')
    .helpGroup('Orchestrator:')
    .addHelpText('after', GROUP_HELP);
  registerDeployCommand(program, group);
  registerApplyCommand(program, group);
  registerStatusCommand(program, group);
  registerTeardownCommand(program, group);
  registerCnfFilesCommand(group);
}
