import { HttpMethod, KubernetesObjectApi, Observable, PatchStrategy, type KubeConfig, type KubernetesObject, type ObservableMiddleware, type ResponseContext } from '@kubernetes/client-node';
import { AppError } from '../errors.js';
import { labelKeyProblem, labelValueProblem } from '../kubernetes-names.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../mesh/kubernetes/kube-config.js';
import { callKubernetes, isApiStatus, type KubernetesOperation } from '../mesh/kubernetes/kubernetes-errors.js';
import type { ClusterObjects, KubeKind } from './cluster-objects.js';
import { objectKey, type KubeObject, type KubeObjectRef } from './kube-object.js';

/**
 * The orchestrator's objects in a Kubernetes cluster, of any kind the API server's discovery
 * names (client-node's KubernetesObjectApi resolves plurals and scope from it).
 *
 * Writes are server-side apply under one field manager with force: the orchestrator is the sole
 * author of the objects it deploys, so a field someone changed by hand (kubectl edit, scale) is
 * taken back on the next apply instead of failing the job with a conflict that no retry could
 * resolve; fields it never set (a Service's clusterIP, istiod's status) stay with their owners.
 * Deletes use propagationPolicy=Background, as kubectl does, so a Deployment's Pods go with it.
 *
 * Objects come back as the API server's JSON: client-node's typed models would turn timestamps
 * into Dates and drop fields they do not know, so responses are parsed as plain JSON here.
 */

export const ORCHESTRATOR_FIELD_MANAGER = 'vmsi-orchestrator';

export interface KubernetesClusterObjectsOptions {
  kubeConfig: KubeConfig;
  /** Bound on each API call, discovery included; DEFAULT_REQUEST_TIMEOUT_MS when absent. */
  requestTimeoutMs?: number;
  /** Server-side apply field manager; ORCHESTRATOR_FIELD_MANAGER when absent. */
  fieldManager?: string;
}

interface ObjectRequest {
  method: HttpMethod;
  action: 'patch' | 'read' | 'list' | 'delete';
  spec: { apiVersion: string; kind: string; metadata: { name?: string; namespace?: string } };
  query?: Record<string, string>;
  body?: string;
  signal: AbortSignal;
}

/** KubernetesObjectApi's discovery and URL building, with plain JSON in and out and a signal per call. */
class PlainObjectApi extends KubernetesObjectApi {
  /**
   * Discovery requests (made inside specUriPath) carry no signal of ours; this bounds them too.
   * boundedCall cannot serve here: its middleware would replace each call's own signal.
   */
  boundRequests(timeoutMs: number): void {
    const middleware: ObservableMiddleware = {
      pre: (context) => {
        if (context.getSignal() === undefined) context.setSignal(discoveryTimeout(timeoutMs));
        return new Observable(Promise.resolve(context));
      },
      post: (response) => new Observable(Promise.resolve(response)),
    };
    this.configuration.middleware.push(middleware);
  }

  async send(request: ObjectRequest): Promise<unknown> {
    // specUriPath fills in defaults on the spec it is given; keep the caller's object untouched.
    const path = await this.specUriPath(structuredClone(request.spec), request.action);
    const context = this.configuration.baseServer.makeRequestContext(path, request.method);
    context.setHeaderParam('Accept', 'application/json');
    for (const [name, value] of Object.entries(request.query ?? {})) context.setQueryParam(name, value);
    if (request.body !== undefined) {
      context.setHeaderParam('Content-Type', PatchStrategy.ServerSideApply);
      context.setBody(request.body);
    }
    context.setSignal(request.signal);
    return this.requestPromise(context);
  }

  protected override async processResponse<T extends KubernetesObject>(response: ResponseContext, type?: string): Promise<T> {
    const isSuccess = response.httpStatusCode >= 200 && response.httpStatusCode <= 299;
    if (!isSuccess) return super.processResponse<T>(response, type);
    return JSON.parse(await response.body.text()) as T;
  }
}

export class KubernetesClusterObjects implements ClusterObjects {
  private readonly api: PlainObjectApi;
  private readonly timeoutMs: number;
  private readonly fieldManager: string;

  constructor(options: KubernetesClusterObjectsOptions) {
    this.timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.fieldManager = options.fieldManager ?? ORCHESTRATOR_FIELD_MANAGER;
    this.api = options.kubeConfig.makeApiClient(PlainObjectApi);
    this.api.boundRequests(this.timeoutMs);
  }

  async apply(object: KubeObject, options: { signal?: AbortSignal } = {}): Promise<KubeObject> {
    return callKubernetes(operation('apply', object), async () => {
      const stored = await this.api.send({
        method: HttpMethod.PATCH,
        action: 'patch',
        spec: object,
        query: { fieldManager: this.fieldManager, force: 'true' },
        // JSON is YAML, and keeps every field exactly as given.
        body: JSON.stringify(object),
        signal: this.signal(options.signal),
      });
      return stored as KubeObject;
    });
  }

  async get(ref: KubeObjectRef, options: { signal?: AbortSignal } = {}): Promise<KubeObject | undefined> {
    return callKubernetes(operation('get', ref), async () => {
      try {
        return (await this.api.send({ method: HttpMethod.GET, action: 'read', spec: specOf(ref), signal: this.signal(options.signal) })) as KubeObject;
      } catch (error) {
        if (isApiStatus(error, 404)) return undefined;
        throw error;
      }
    });
  }

  async list(kind: KubeKind, options: { namespace?: string; labels: Record<string, string>; signal?: AbortSignal }): Promise<KubeObject[]> {
    const selector = labelSelector(options.labels);
    const where = options.namespace === undefined ? 'in every namespace' : `in ${options.namespace}`;
    const context: KubernetesOperation = { operation: `list ${kind.kind} ${where} with labels ${selector || '(any)'}`, code: 'REGISTRY_FAILED' };
    return callKubernetes(context, async () => {
      const answer = (await this.api.send({
        method: HttpMethod.GET,
        action: 'list',
        spec: { ...kind, metadata: options.namespace === undefined ? {} : { namespace: options.namespace } },
        query: selector === '' ? {} : { labelSelector: selector },
        signal: this.signal(options.signal),
      })) as { items?: Omit<KubeObject, 'apiVersion' | 'kind'>[] };
      // kube-apiserver leaves apiVersion/kind out of the items of built-in lists.
      return (answer.items ?? []).map((item) => ({ ...item, apiVersion: kind.apiVersion, kind: kind.kind }) as KubeObject);
    });
  }

  async delete(ref: KubeObjectRef, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    return callKubernetes(operation('delete', ref), async () => {
      try {
        await this.api.send({ method: HttpMethod.DELETE, action: 'delete', spec: specOf(ref), query: { propagationPolicy: 'Background' }, signal: this.signal(options.signal) });
        return true;
      } catch (error) {
        if (isApiStatus(error, 404)) return false;
        throw error;
      }
    });
  }

  private signal(caller: AbortSignal | undefined): AbortSignal {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    return caller === undefined ? timeout : AbortSignal.any([timeout, caller]);
  }
}

/**
 * Like AbortSignal.timeout, but aborting with a plain Error named TimeoutError: client-node's
 * discovery rewrites the message of whatever it catches, which throws on a DOMException and would
 * hide the timeout behind an unrelated TypeError.
 */
function discoveryTimeout(timeoutMs: number): AbortSignal {
  const controller = new AbortController();
  const timer = setTimeout(() => {
    const reason = new Error(`No answer within ${timeoutMs} ms.`);
    reason.name = 'TimeoutError';
    controller.abort(reason);
  }, timeoutMs);
  timer.unref();
  return controller.signal;
}

function specOf(ref: KubeObjectRef): ObjectRequest['spec'] {
  return { apiVersion: ref.apiVersion, kind: ref.kind, metadata: ref.namespace === undefined ? { name: ref.name } : { name: ref.name, namespace: ref.namespace } };
}

function operation(verb: string, target: KubeObjectRef | KubeObject): KubernetesOperation {
  return { operation: `${verb} ${objectKey(target)}`, code: 'REGISTRY_FAILED' };
}

/**
 * `k1=v1,k2=v2`. Keys and values are checked against the label syntax first, so no value can
 * smuggle another requirement (`a,b!=c`) into the selector.
 */
export function labelSelector(labels: Record<string, string>): string {
  const problems = Object.entries(labels).flatMap(([key, value]) => {
    const problem = labelKeyProblem(key) ?? labelValueProblem(value);
    return problem === undefined ? [] : [{ path: `labels.${key}`, message: problem }];
  });
  if (problems.length > 0) throw new AppError('INVALID_REQUEST', 'The labels to list by are not valid Kubernetes labels.', { problems });
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}
