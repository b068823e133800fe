import type { Logger } from '../log.js';

export interface TracingSettings {
  endpoint: string;
  serviceName: string;
  sampleRatio: number;
}

export interface RunningTracing {
  /** Flushes the spans still buffered, then stops exporting. */
  shutdown(): Promise<void>;
}

/**
 * Registers the OpenTelemetry SDK: OTLP/HTTP export in batches, W3C trace context, async context
 * across awaits. Imported dynamically by main.ts, and only when the config has a tracing section.
 */
export async function startTracing(settings: TracingSettings, logger: Logger): Promise<RunningTracing> {
  const [{ context, propagation, trace }, { AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }, { resourceFromAttributes }, sdk, { OTLPTraceExporter }] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/exporter-trace-otlp-http'),
  ]);
  const exporter = new OTLPTraceExporter({ url: settings.endpoint });
  const provider = new sdk.TracerProvider({
    resource: resourceFromAttributes({ 'service.name': settings.serviceName }),
    sampler: new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(settings.sampleRatio) }),
    spanProcessors: [new sdk.BatchSpanProcessor({ exporter, scheduledDelayMillis: 1_000 })],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  logger.info('Tracing enabled', { endpoint: settings.endpoint, serviceName: settings.serviceName, sampleRatio: settings.sampleRatio });
  return {
    shutdown: async () => {
      await provider.shutdown().catch((error: unknown) => logger.warn('Spans could not be flushed at shutdown', { error }));
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}
