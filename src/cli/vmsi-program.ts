import { Command } from 'commander';
import { registerConfigCommand } from './config-check/config-check-command.js';
import { registerDoctorCommand } from './doctor/doctor-command.js';
import { registerRenderCommand } from './render/render-command.js';
import { registerServeCommand } from './serve/serve-command.js';
import { registerInjectCommands } from './inject/inject-command.js';
import { registerJobCommands } from './jobs/jobs-command.js';
import { registerTackerCommands } from './tacker/tacker-command.js';
import { registerOrchestratorCommands } from './orchestrator/orchestrator-command.js';

/** Every command, registered but not run: the CLI parses it, tests inspect it. */
export function buildProgram(): Command {
  const program = new Command('vmsi')
    .description('vm-sidecar-injector: brings OpenStack Tacker VMs into an Istio service mesh')
    .option('-c, --config <file>', 'config file (YAML); also VMSI_CONFIG')
    .showHelpAfterError()
    .exitOverride();
  registerServeCommand(program);
  registerRenderCommand(program);
  registerConfigCommand(program);
  registerInjectCommands(program);
  registerJobCommands(program);
  registerTackerCommands(program);
  registerOrchestratorCommands(program);
  registerDoctorCommand(program);
  return program;
}
