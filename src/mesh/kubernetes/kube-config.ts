import { KubeConfig, Observable, type ConfigurationOptions, type ObservableMiddleware } from '@kubernetes/client-node';
import { AppError } from '../../errors.js';

/**
 * Where the service finds its cluster: a kubeconfig file (optionally one of its contexts), or the
 * in-cluster service account (token, CA and namespace under /var/run/secrets/kubernetes.io/
 * serviceaccount, API address from KUBERNETES_SERVICE_HOST/PORT, which client-node reads itself).
 */
export type KubernetesConnection =
  | { kind: 'kubeconfig'; file: string; context?: string }
  | { kind: 'in-cluster'; /** Prefix for the service account folder; tests only. */ rootDir?: string };

export function loadKubeConfig(connection: KubernetesConnection): KubeConfig {
  const config = new KubeConfig();
  if (connection.kind === 'in-cluster') {
    config.loadFromCluster(connection.rootDir);
    if (/undefined/.test(config.getCurrentCluster()?.server ?? 'undefined')) {
      throw new AppError('INVALID_CONFIG', 'In-cluster Kubernetes access needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT; is the service running in a pod?');
    }
    return config;
  }
  try {
    config.loadFromFile(connection.file);
  } catch (cause) {
    throw new AppError('INVALID_CONFIG', `Cannot load the kubeconfig ${connection.file}.`, { cause, details: { file: connection.file } });
  }
  if (connection.context !== undefined) selectContext(config, connection.context, connection.file);
  if (config.getCurrentCluster() === null) {
    throw new AppError('INVALID_CONFIG', `The kubeconfig ${connection.file} has no current context with a cluster.`, { details: { file: connection.file } });
  }
  return config;
}

function selectContext(config: KubeConfig, context: string, file: string): void {
  if (config.getContextObject(context) === null) {
    throw new AppError('INVALID_CONFIG', `The kubeconfig ${file} has no context ${JSON.stringify(context)}.`, {
      details: { file, context, contexts: config.getContexts().map((candidate) => candidate.name) },
    });
  }
  config.setCurrentContext(context);
}

/** How long one API call may take, answer included, unless the adapter is given another bound. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/**
 * Per-call options that bound the call: client-node sets no timeout of its own, and a silent API
 * server must not hold a job step until the step's own deadline.
 */
export function boundedCall(timeoutMs: number): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre: (context) => {
      context.setSignal(AbortSignal.timeout(timeoutMs));
      return new Observable(Promise.resolve(context));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}
