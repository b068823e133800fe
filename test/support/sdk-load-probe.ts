import { registerHooks } from 'node:module';

/**
 * Run as a child process: starts the service in-process with the config given as JSON (argv[2])
 * and prints which @opentelemetry packages were loaded, as a JSON array.
 */
const loaded = new Set<string>();
registerHooks({
  resolve(specifier, context, next) {
    const resolved = next(specifier, context);
    const match = /node_modules\/(@opentelemetry\/[^/]+)/.exec(resolved.url);
    if (match?.[1] !== undefined) loaded.add(match[1]);
    return resolved;
  },
});
const { startService } = await import('../../src/main.js');
const { configSchema } = await import('../../src/config.js');
const { createLogger } = await import('../../src/log.js');
const running = await startService(configSchema.parse(JSON.parse(process.argv[2] ?? '{}')), createLogger({ silent: true }));
await fetch(`${running.url}/healthz`);
await running.close();
process.stdout.write(`${JSON.stringify([...loaded].sort())}\n`);
