import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { ApiException } from '@kubernetes/client-node';
import { expect } from 'chai';
import { inSpan } from '../../telemetry/tracing.js';
import { callKubernetes } from './kubernetes-errors.js';

describe('Kubernetes API calls in a trace', function () {
  const exporter = new InMemorySpanExporter();

  before(function () {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }));
  });

  after(function () {
    trace.disable();
    context.disable();
  });

  beforeEach(function () {
    exporter.reset();
  });

  it('makes one client span per call, a child of the step that made it, named by verb and kind', async function () {
    await inSpan('step register', {}, () => callKubernetes({ operation: 'apply WorkloadEntry shop/vm-1', code: 'REGISTRY_FAILED' }, () => Promise.resolve('applied')));
    const spans = exporter.getFinishedSpans();
    const call = spans.find((span) => span.name === 'kubernetes apply WorkloadEntry');
    const step = spans.find((span) => span.name === 'step register');
    expect(call?.attributes['k8s.operation']).to.equal('apply WorkloadEntry shop/vm-1');
    expect(call?.parentSpanContext?.spanId).to.equal(step?.spanContext().spanId);
    expect(call?.status.code).to.not.equal(2);
  });

  it('records a refused call by its status and error code, never by the API message', async function () {
    const refused = new ApiException(403, 'Forbidden', { kind: 'Status', message: 'serviceaccounts "vmsi" cannot create resource secret-token-abc' }, {});
    const call = callKubernetes({ operation: 'create TokenRequest shop/web', code: 'CREDENTIALS_UNAVAILABLE' }, () => Promise.reject(refused));
    await call.then(
      () => expect.fail('the call was refused'),
      (error: unknown) => expect(error).to.have.property('code', 'FORBIDDEN'),
    );
    const [span] = exporter.getFinishedSpans();
    expect(span?.attributes).to.include({ 'http.response.status_code': 403, 'error.type': 'FORBIDDEN' });
    expect(JSON.stringify({ attributes: span?.attributes, status: span?.status, events: span?.events })).not.to.include('secret-token-abc');
  });
});
