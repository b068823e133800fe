import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { createLogger } from '../../log.js';
import { startService } from '../../main.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('Run the HTTP service (embedded defaults: 127.0.0.1:8080, file credentials under .vmsi/)')
    .action(async () => {
      const config = loadConfig({ file: program.opts<{ config?: string }>().config });
      const logger = createLogger({ level: config.log.level });
      const service = await startService(config, logger);
      const stop = (signal: string): void => {
        logger.info('Stopping on signal', { signal });
        service.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
