import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per service instance, so tests can run several apps in one process. */
export interface ServiceMetrics {
  registry: Registry;
  httpRequestDuration: Histogram<'method' | 'route' | 'status'>;
  renders: Counter<'delivery' | 'outcome'>;
}

export function createServiceMetrics(): ServiceMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'vmsi_' });
  return {
    registry,
    httpRequestDuration: new Histogram({
      name: 'vmsi_http_request_duration_seconds',
      help: 'HTTP request duration by route and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    renders: new Counter({
      name: 'vmsi_renders_total',
      help: 'Bundles rendered, by delivery method and outcome.',
      labelNames: ['delivery', 'outcome'],
      registers: [registry],
    }),
  };
}
