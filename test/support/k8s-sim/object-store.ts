import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { validateIstioObject } from '../istio-crd-validator.js';
import { builtInProblems, withDefaults } from './builtin-objects.js';
import { buildPod, deploymentStatus, isOwnedBy, POD_TEMPLATE_HASH_LABEL, podStatus, podTemplateHash } from './deployment-controller.js';
import { alreadyExists, failure, invalid, namespaceNotFound, notFound, staleUpdate, StatusError, type StatusCause } from './kubernetes-status.js';
import { matchesLabelSelector, type LabelRequirement } from './label-selector.js';
import { apiVersionOf, resourceByPlural, type ServedResource } from './resource-catalog.js';
import { describePath, recordUpdate, renderManagedFields, serverSideApply, type KubeObject, type Ownership } from './server-side-apply.js';

/**
 * The simulator's etcd and controllers: objects of every served resource with kube-apiserver's
 * write semantics (resourceVersion, generation, managedFields, 404/409/422, the NamespaceLifecycle
 * check), and what controllers do right after a write, synchronously rather than after a watch
 * event: the namespace controller empties a deleted Namespace at once, the Deployment controller
 * (deployment-controller.ts) keeps `spec.replicas` Pods, the garbage collector deletes a deleted
 * Deployment's Pods unless told to orphan them.
 */

const SERVER_METADATA = ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'deletionTimestamp'];
/** Every cluster has these; kube-apiserver refuses to delete the first three. */
const SYSTEM_NAMESPACES = ['default', 'kube-node-lease', 'kube-public', 'kube-system'];
const UNDELETABLE_NAMESPACES = new Set(['default', 'kube-public', 'kube-system']);
const CONTROLLER_MANAGER = 'kube-controller-manager';

export interface Target {
  resource: ServedResource;
  /** '' for cluster-scoped resources, and for lists across every namespace. */
  namespace: string;
  /** '' for collection requests. */
  name: string;
}

interface StoredObject {
  object: KubeObject;
  owners: Ownership[];
}

export interface PodReadinessTarget {
  namespace?: string;
  deployment?: string;
}

export interface ApplyRequest {
  manager: string;
  force: boolean;
  /** Called before an apply that creates, which kube-apiserver authorizes as create too. */
  authorizeCreate: () => void;
}

export function timestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function withoutServerFields(object: KubeObject): KubeObject {
  const copy = structuredClone(object);
  for (const field of SERVER_METADATA) delete copy.metadata[field];
  delete copy.status;
  return copy;
}

function labelsOf(object: KubeObject): Record<string, string> | undefined {
  return object.metadata.labels as Record<string, string> | undefined;
}

export class ObjectStore {
  private readonly stored = new Map<string, StoredObject>();
  private readonly readiness: (PodReadinessTarget & { isReady: boolean })[] = [];
  private resourceVersion = 1000;
  private podCount = 0;

  constructor(private readonly requireNamespaces: boolean) {
    for (const name of SYSTEM_NAMESPACES) this.put(resourceByPlural('namespaces'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }

  /** Stores an object as if some other client had created it (test set-up); keeps its status. */
  put(resource: ServedResource, object: KubeObject): void {
    const namespace = resource.namespaced ? String(object.metadata.namespace) : '';
    const prepared = withDefaults(resource, object, undefined);
    const created = this.withServerMetadata(resource, prepared, undefined);
    if (object.status !== undefined) created.status = structuredClone(object.status);
    this.stored.set(this.key(resource, namespace, String(object.metadata.name)), { object: created, owners: [] });
  }

  find(resource: ServedResource, namespace: string, name: string): KubeObject | undefined {
    const stored = this.stored.get(this.key(resource, namespace, name));
    return stored === undefined ? undefined : this.render(stored);
  }

  objects(resource: ServedResource, namespace: string): KubeObject[] {
    return this.entries(resource, namespace).map((stored) => this.render(stored));
  }

  setStatus(target: Target, status: Record<string, unknown>): void {
    const stored = this.existing(target);
    stored.object.status = structuredClone(status);
    stored.object.metadata.resourceVersion = this.nextResourceVersion();
  }

  get(target: Target): KubeObject {
    return this.render(this.existing(target));
  }

  list(target: Target, selector: LabelRequirement[]): Record<string, unknown> {
    const { resource } = target;
    const items = this.entries(resource, target.namespace)
      .filter((stored) => matchesLabelSelector(selector, labelsOf(stored.object)))
      .map((stored) => this.render(stored));
    // kube-apiserver's JSON leaves apiVersion/kind out of the items of built-in lists; custom resources keep theirs.
    if (!resource.isCustom) items.forEach((item) => { delete item.apiVersion; delete item.kind; });
    return { kind: `${resource.kind}List`, apiVersion: apiVersionOf(resource), metadata: { resourceVersion: String(this.resourceVersion) }, items };
  }

  create(target: Target, body: unknown, manager: string): KubeObject {
    const object = this.received(target, body);
    const named = { ...target, name: String(object.metadata.name) };
    this.ensureNamespace(named);
    const prepared = withDefaults(target.resource, object, undefined);
    this.validate(named, prepared);
    const key = this.key(target.resource, named.namespace, named.name);
    if (this.stored.has(key)) throw new StatusError(alreadyExists(this.ref(named)));
    const created = this.withServerMetadata(target.resource, prepared, undefined);
    const stored = { object: created, owners: recordUpdate(undefined, created, [], this.owner(manager, created)) };
    this.stored.set(key, stored);
    return this.answerThenReconcile(named, stored);
  }

  replace(target: Target, body: unknown, manager: string): KubeObject {
    const stored = this.existing(target);
    const object = this.received(target, body);
    const given = object.metadata.resourceVersion;
    if (given === undefined || given === '') {
      throw new StatusError(invalid({ ...this.ref(target), kind: target.resource.kind }, [{ field: 'metadata.resourceVersion', message: 'Invalid value: 0x0: must be specified for an update' }]));
    }
    if (given !== stored.object.metadata.resourceVersion) throw new StatusError(staleUpdate(this.ref(target)));
    const prepared = withDefaults(target.resource, object, stored.object);
    this.validate(target, prepared);
    const updated = this.withServerMetadata(target.resource, prepared, stored.object);
    stored.owners = recordUpdate(stored.object, updated, stored.owners, this.owner(manager, object));
    stored.object = updated;
    return this.answerThenReconcile(target, stored);
  }

  apply(target: Target, body: unknown, request: ApplyRequest): { created: boolean; object: KubeObject } {
    // The apply configuration may be partial; the API server validates the merged result.
    const applied = this.received(target, body);
    const key = this.key(target.resource, target.namespace, target.name);
    const current = this.stored.get(key);
    if (current === undefined) {
      request.authorizeCreate();
      this.ensureNamespace(target);
    }
    const result = serverSideApply({ current: current?.object, owners: current?.owners ?? [], applied, manager: request.manager, force: request.force, time: timestamp() });
    if (result.kind === 'conflict') {
      const lines = result.conflicts.map((conflict) => `conflict with "${conflict.manager}": ${describePath(conflict.path)}`);
      throw new StatusError(
        failure(409, 'Conflict', `Apply failed with ${lines.length} conflict${lines.length === 1 ? '' : 's'}: ${lines.join('\n')}`, {
          causes: result.conflicts.map((conflict) => ({ reason: 'FieldManagerConflict', message: `conflict with "${conflict.manager}"`, field: describePath(conflict.path) })),
        }),
      );
    }
    const merged = withDefaults(target.resource, result.object, current?.object);
    this.validate(target, merged);
    if (current !== undefined && !result.changed) return { created: false, object: this.render(current) };
    const stored = { object: this.withServerMetadata(target.resource, merged, current?.object), owners: result.owners };
    this.stored.set(key, stored);
    return { created: current === undefined, object: this.answerThenReconcile(target, stored) };
  }

  delete(target: Target, propagationPolicy: string | undefined): KubeObject {
    const { resource, name } = target;
    if (resource.plural === 'namespaces' && UNDELETABLE_NAMESPACES.has(name)) {
      throw new StatusError(failure(403, 'Forbidden', `namespaces "${name}" is forbidden: this namespace may not be deleted`, { name, kind: 'namespaces' }));
    }
    const stored = this.existing(target);
    this.stored.delete(this.key(resource, target.namespace, name));
    const answer = this.render(stored);
    if (resource.plural === 'namespaces') {
      this.deleteNamespaceContents(name);
      answer.metadata.deletionTimestamp = timestamp();
      answer.status = { phase: 'Terminating' };
    }
    if (resource.plural === 'deployments') this.collectPods(stored.object, propagationPolicy === 'Orphan');
    if (resource.plural === 'pods') this.reconcileOwnerOf(stored.object);
    return answer;
  }

  /** Pods of the matching Deployments (all when no target) report Ready as given, now and when created later. */
  setPodsReady(isReady: boolean, target: PodReadinessTarget = {}): void {
    this.readiness.push({ ...target, isReady });
    for (const deployment of this.entries(resourceByPlural('deployments'), target.namespace ?? '')) {
      if (target.deployment !== undefined && deployment.object.metadata.name !== target.deployment) continue;
      for (const pod of this.podsOf(deployment.object)) {
        pod.object.status = podStatus(pod.object, isReady, String((pod.object.status as { podIP?: string }).podIP));
        pod.object.metadata.resourceVersion = this.nextResourceVersion();
      }
      this.reconcile(deployment);
    }
  }

  hasServiceAccount(namespace: string, name: string): boolean {
    return this.stored.has(this.key(resourceByPlural('serviceaccounts'), namespace, name));
  }

  private key(resource: ServedResource, namespace: string, name: string): string {
    return `${resource.plural}/${resource.namespaced ? namespace : ''}/${name}`;
  }

  private entries(resource: ServedResource, namespace: string): StoredObject[] {
    const prefix = resource.namespaced && namespace !== '' ? `${resource.plural}/${namespace}/` : `${resource.plural}/`;
    return [...this.stored.entries()]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, stored]) => stored);
  }

  private ref(target: Target): { group: string; resource: string; name: string } {
    return { group: target.resource.group, resource: target.resource.plural, name: target.name };
  }

  private existing(target: Target): StoredObject {
    const stored = this.stored.get(this.key(target.resource, target.namespace, target.name));
    if (stored === undefined) throw new StatusError(notFound(this.ref(target)));
    return stored;
  }

  /** NamespaceLifecycle admission: nothing is created in a namespace that does not exist. */
  private ensureNamespace(target: Target): void {
    if (!this.requireNamespaces || !target.resource.namespaced) return;
    if (!this.stored.has(this.key(resourceByPlural('namespaces'), '', target.namespace))) throw new StatusError(namespaceNotFound(target.namespace));
  }

  /** The object of a write, checked against the URL as kube-apiserver does before admission. */
  private received(target: Target, body: unknown): KubeObject {
    const { resource } = target;
    const object = structuredClone(body) as KubeObject | undefined;
    if (object === undefined || typeof object !== 'object' || typeof object.metadata !== 'object' || object.metadata === null) {
      throw new StatusError(failure(400, 'BadRequest', 'the request body must be an object with metadata'));
    }
    const apiVersion = apiVersionOf(resource);
    if (object.apiVersion !== apiVersion || object.kind !== resource.kind) {
      throw new StatusError(failure(400, 'BadRequest', `the body is a ${String(object.kind)} of ${String(object.apiVersion)}, not a ${resource.kind} of ${apiVersion}`));
    }
    if (resource.namespaced) object.metadata.namespace ??= target.namespace;
    else delete object.metadata.namespace;
    if (resource.namespaced && object.metadata.namespace !== target.namespace) {
      throw new StatusError(failure(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'));
    }
    if (target.name !== '' && object.metadata.name !== target.name) {
      throw new StatusError(failure(400, 'BadRequest', 'the name of the object does not match the name on the URL'));
    }
    delete object.status;
    return object;
  }

  private validate(target: Target, object: KubeObject): void {
    const { resource } = target;
    const plain = withoutServerFields(object);
    const causes: StatusCause[] = resource.isCustom ? validateIstioObject(plain).map((message) => ({ message })) : builtInProblems(resource, plain);
    if (causes.length > 0) throw new StatusError(invalid({ ...this.ref(target), name: String(object.metadata.name), kind: resource.kind }, causes));
  }

  private withServerMetadata(resource: ServedResource, object: KubeObject, previous: KubeObject | undefined): KubeObject {
    const metadata = { ...object.metadata };
    for (const field of SERVER_METADATA) delete metadata[field];
    const generation = (previous?.metadata.generation as number | undefined) ?? 0;
    const isSpecChanged = previous === undefined || !isDeepStrictEqual(previous.spec, object.spec);
    return {
      ...object,
      ...(previous?.status === undefined ? {} : { status: previous.status }),
      metadata: {
        ...metadata,
        uid: previous?.metadata.uid ?? randomUUID(),
        resourceVersion: this.nextResourceVersion(),
        ...(resource.hasGeneration ? { generation: isSpecChanged ? generation + 1 : generation } : {}),
        creationTimestamp: previous?.metadata.creationTimestamp ?? timestamp(),
      },
    };
  }

  private owner(manager: string, object: KubeObject): Omit<Ownership, 'paths' | 'operation'> {
    return { manager, apiVersion: String(object.apiVersion), time: timestamp() };
  }

  private render(stored: StoredObject): KubeObject {
    const object = structuredClone(stored.object);
    const managedFields = renderManagedFields(stored.owners);
    if (managedFields.length > 0) object.metadata.managedFields = managedFields;
    return object;
  }

  private nextResourceVersion(): string {
    this.resourceVersion += 1;
    return String(this.resourceVersion);
  }

  /** The answer shows the object as written; controllers act on it just after, as they would on the watch event. */
  private answerThenReconcile(target: Target, stored: StoredObject): KubeObject {
    const answer = this.render(stored);
    if (target.resource.plural === 'deployments') this.reconcile(stored);
    return answer;
  }

  private deleteNamespaceContents(namespace: string): void {
    for (const key of [...this.stored.keys()]) {
      if (key.split('/')[1] === namespace) this.stored.delete(key);
    }
  }

  private podsOf(deployment: KubeObject): StoredObject[] {
    return this.entries(resourceByPlural('pods'), String(deployment.metadata.namespace)).filter((pod) => isOwnedBy(pod.object, deployment));
  }

  private removePod(pod: KubeObject): void {
    this.stored.delete(this.key(resourceByPlural('pods'), String(pod.metadata.namespace), String(pod.metadata.name)));
  }

  private collectPods(deployment: KubeObject, isOrphaned: boolean): void {
    for (const pod of this.podsOf(deployment)) {
      if (!isOrphaned) this.removePod(pod.object);
      else delete pod.object.metadata.ownerReferences;
    }
  }

  private reconcileOwnerOf(pod: KubeObject): void {
    const owner = (pod.metadata.ownerReferences as { kind?: string; name?: string }[] | undefined)?.find((reference) => reference.kind === 'Deployment');
    const deployment = owner === undefined ? undefined : this.stored.get(this.key(resourceByPlural('deployments'), String(pod.metadata.namespace), String(owner.name)));
    if (deployment !== undefined) this.reconcile(deployment);
  }

  private reconcile(deployment: StoredObject): void {
    const hash = podTemplateHash(deployment.object);
    const owned = this.podsOf(deployment.object);
    const replicas = Number((deployment.object.spec as { replicas?: number }).replicas ?? 1);
    const current = owned.filter((pod) => labelsOf(pod.object)?.[POD_TEMPLATE_HASH_LABEL] === hash);
    for (const pod of owned.filter((candidate) => !current.includes(candidate))) this.removePod(pod.object);
    for (const pod of current.splice(replicas)) this.removePod(pod.object);
    while (current.length < replicas) current.push(this.createPod(deployment.object, hash));
    this.updateDeploymentStatus(deployment, current.map((pod) => pod.object));
  }

  private createPod(deployment: KubeObject, hash: string): StoredObject {
    const namespace = String(deployment.metadata.namespace);
    const namespaceObject = this.stored.get(this.key(resourceByPlural('namespaces'), '', namespace))?.object;
    const pods = resourceByPlural('pods');
    const pod = this.withServerMetadata(pods, buildPod({ deployment, hash, namespaceLabels: namespaceObject === undefined ? undefined : labelsOf(namespaceObject), uid: randomUUID(), time: timestamp() }), undefined);
    this.podCount += 1;
    pod.status = podStatus(pod, this.isPodReady(namespace, String(deployment.metadata.name)), `10.244.${Math.floor(this.podCount / 250)}.${(this.podCount % 250) + 2}`);
    const stored = { object: pod, owners: recordUpdate(undefined, pod, [], this.owner(CONTROLLER_MANAGER, pod)) };
    this.stored.set(this.key(pods, namespace, String(pod.metadata.name)), stored);
    return stored;
  }

  private isPodReady(namespace: string, deployment: string): boolean {
    const rule = this.readiness.findLast((candidate) => (candidate.namespace ?? namespace) === namespace && (candidate.deployment ?? deployment) === deployment);
    return rule?.isReady ?? true;
  }

  /** A status write by the Deployment controller, only when something in it changed. */
  private updateDeploymentStatus(deployment: StoredObject, pods: KubeObject[]): void {
    const previous = deployment.object.status as { conditions?: { lastUpdateTime?: string }[] } | undefined;
    const previousTime = previous?.conditions?.[0]?.lastUpdateTime;
    if (previousTime !== undefined && isDeepStrictEqual(deploymentStatus(deployment.object, pods, previousTime), previous)) return;
    deployment.object.status = deploymentStatus(deployment.object, pods, timestamp());
    deployment.object.metadata.resourceVersion = this.nextResourceVersion();
  }
}
