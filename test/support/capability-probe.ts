import { registerHooks } from 'node:module';

/**
 * Run as a child process with a config file path as its argument: records every module that
 * loading the service and starting it with that config resolves, stops the service, and prints
 * the project's own module paths (relative, one JSON array) on stdout.
 */
const resolved = new Set<string>();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const result = nextResolve(specifier, context);
    resolved.add(result.url);
    return result;
  },
});

const { loadConfig } = await import('../../src/config.js');
const { startService } = await import('../../src/main.js');
const { createLogger } = await import('../../src/log.js');
const service = await startService(loadConfig({ file: process.argv[2] ?? '', env: {} }), createLogger({ silent: true }));
await service.close();
const root = new URL('../../', import.meta.url).href;
process.stdout.write(JSON.stringify([...resolved].filter((url) => url.startsWith(root) && !url.includes('/node_modules/')).map((url) => url.slice(root.length))));
