import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { LcmApiCore } from './lcm-api-core.js';
import { isRecord } from './lcm-engine.js';
import { healWork, instantiateWork, scaleWork, terminateWork, type LcmWork } from './lcm-work.js';
import {
  createVnfRequestSchema,
  healRequestSchema,
  instantiateRequestSchema,
  parseRequest,
  scaleRequestSchema,
  subscriptionRequestSchema,
  terminateRequestSchema,
} from './request-schemas.js';
import { parseJsonBody, route, type Route, type RouteHandler, type SimRequest, type SimResponse } from './sim-http.js';
import { matchesV1, type NotificationSubject } from './subscription-filter.js';
import type { TackerState } from './tacker-state.js';
import { formatV1Timestamp } from './tacker-time.js';
import { V1Views } from './v1-views.js';
import { initialScaleLevels, isFlavourKnown, maxScaleLevel, type SimOpOcc, type SimSubscription, type SimVnfc, type SimVnfInstance, type SimVnfd } from './vnf-model.js';

type Json = Record<string, unknown>;

export interface V1ApiOptions {
  /** [vnf_lcm] test_callback_uri (default true). */
  testCallbackUri: boolean;
}

/** tacker.wsgi.Fault names, for errors raised as webob exceptions. */
const FAULT_NAMES: Record<number, string> = { 400: 'badRequest', 403: 'forbidden', 404: 'itemNotFound', 405: 'badMethod', 409: 'conflictingRequest', 415: 'badMediaType' };

/** An error v1 raises as a webob exception: answered as a Fault, not as ProblemDetails. */
class V1Fault extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function respond(status: number, body?: unknown, extraHeaders: Record<string, string> = {}): SimResponse {
  return { status, headers: { 'Content-Type': 'application/json', ...extraHeaders }, body };
}

/** VnfLcmController._make_problem_detail */
function problem(status: number, detail: string, title?: string): SimResponse {
  return { status, headers: { 'Content-Type': 'application/problem+json' }, body: { ...(title === undefined ? {} : { title }), detail, status } };
}

function fault(error: V1Fault): SimResponse {
  return respond(error.status, { [FAULT_NAMES[error.status] ?? 'computeFault']: { code: error.status, message: error.message } });
}

function parsed<T>(schema: z.ZodType<T>, request: SimRequest): T {
  let body: unknown;
  try {
    body = parseJsonBody(request);
  } catch {
    throw new V1Fault(400, 'Malformed request body');
  }
  const result = parseRequest(schema, body);
  if (!result.ok) throw new V1Fault(400, result.detail);
  return result.value;
}

/** How one conductor operation reports itself. */
interface V1Operation {
  occ: SimOpOcc;
  instance: SimVnfInstance;
  work: LcmWork;
  /** The notification dict the conductor reuses for every state. */
  notification: Json;
  affected: (before: SimVnfc[], after: SimVnfc[]) => Json[];
  /** Scale sends every state by RPC cast (not awaited) and lists only non-empty changes. */
  isScale: boolean;
}

/** The SOL003 v1 API as tacker/api/vnflcm/v1/controller.py and conductor_server.py serve it. */
export class V1Api {
  private readonly views: V1Views;
  private readonly core: LcmApiCore;

  constructor(
    private readonly state: TackerState,
    private readonly options: V1ApiOptions,
  ) {
    this.views = new V1Views(state);
    this.core = new LcmApiCore(state, 'v1', (detail) => new V1Fault(400, detail));
  }

  routes(): Route[] {
    const prefix = '/vnflcm/v1';
    const guarded = (handler: RouteHandler): RouteHandler => {
      return async (request) => {
        try {
          return await handler(request);
        } catch (error) {
          if (error instanceof V1Fault) return fault(error);
          return problem(500, error instanceof Error ? error.message : String(error), 'Internal Server Error');
        }
      };
    };
    return [
      route('GET', `${prefix}/api_versions`, () => respond(200, { uriPrefix: prefix, apiVersions: [{ version: '1.3.0', isDeprecated: false }] })),
      route('POST', `${prefix}/subscriptions`, guarded((request) => this.createSubscription(request))),
      route('GET', `${prefix}/subscriptions`, guarded((request) => this.listSubscriptions(request))),
      route('GET', `${prefix}/subscriptions/{id}`, guarded((request) => this.showSubscription(request.params.id ?? ''))),
      route('DELETE', `${prefix}/subscriptions/{id}`, guarded((request) => this.deleteSubscription(request.params.id ?? ''))),
      route('POST', `${prefix}/vnf_instances`, guarded((request) => this.createInstance(request))),
      route('GET', `${prefix}/vnf_instances`, guarded((request) => this.listInstances(request))),
      route('GET', `${prefix}/vnf_instances/{id}`, guarded((request) => respond(200, this.views.instance(this.instance(request.params.id))))),
      route('DELETE', `${prefix}/vnf_instances/{id}`, guarded((request) => this.deleteInstance(request.params.id ?? ''))),
      route('POST', `${prefix}/vnf_instances/{id}/instantiate`, guarded((request) => this.instantiate(request))),
      route('POST', `${prefix}/vnf_instances/{id}/scale`, guarded((request) => this.scale(request))),
      route('POST', `${prefix}/vnf_instances/{id}/heal`, guarded((request) => this.heal(request))),
      route('POST', `${prefix}/vnf_instances/{id}/terminate`, guarded((request) => this.terminate(request))),
      route('GET', `${prefix}/vnf_lcm_op_occs`, guarded((request) => this.listOpOccs(request))),
      route('GET', `${prefix}/vnf_lcm_op_occs/{id}`, guarded((request) => this.showOpOcc(request.params.id ?? ''))),
    ];
  }

  private instance(id: string | undefined): SimVnfInstance {
    const instance = this.state.instanceOf('v1', id ?? '');
    if (instance === undefined) throw new V1Fault(404, `Can not find requested vnf instance: ${id ?? ''}`);
    return instance;
  }

  /**
   * register_subscription: the test GET first (400 "Failed to Test Notification" after retry_num
   * failures), then the duplicate check, which answers 303 See Other with the existing one's URI.
   */
  private async createSubscription(request: SimRequest): Promise<SimResponse> {
    const body = parsed(subscriptionRequestSchema, request);
    const subscription = this.core.newSubscription(body.callbackUri);
    if (body.filter !== undefined) subscription.filter = body.filter;
    if (body.authentication !== undefined) subscription.authentication = body.authentication;
    if (this.options.testCallbackUri && !(await this.state.sender.testV1(subscription))) {
      return problem(400, 'Failed to Test Notification', 'Bad Request');
    }
    const duplicate = this.state.subscriptionsOf('v1').find((existing) => isDuplicateV1(existing, subscription));
    if (duplicate !== undefined) return respond(303, undefined, { Location: this.views.subscriptionHref(duplicate.id) });
    this.core.addSubscription(subscription);
    return respond(201, this.views.subscription(subscription), { Location: this.views.subscriptionHref(subscription.id) });
  }

  private listSubscriptions(request: SimRequest): SimResponse {
    return respond(200, this.core.listSubscriptions(request, this.views));
  }

  private showSubscription(id: string): SimResponse {
    const subscription = this.state.subscriptionOf('v1', id);
    if (subscription === undefined) return problem(404, `Can not find requested vnf lcm subscriptions: ${id}`, 'Not Found');
    return respond(200, this.views.subscription(subscription));
  }

  private deleteSubscription(id: string): SimResponse {
    if (this.state.subscriptionOf('v1', id) === undefined) return problem(404, `Can not find requested vnf lcm subscription: ${id}`, 'Not Found');
    this.core.removeSubscription(id);
    return respond(204);
  }

  /** controller.create: Location and links are paths without the endpoint. */
  private createInstance(request: SimRequest): SimResponse {
    const body = parsed(createVnfRequestSchema, request);
    const vnfd = this.state.vnfds.get(body.vnfdId);
    if (vnfd === undefined) {
      return problem(404, `Can not find requested to NFVO,                         vnf package info: vnfdId=[${body.vnfdId}]`, 'Not Found');
    }
    const instance = this.core.addInstance(vnfd, body);
    const links = { vnfInstance: { href: this.views.instancePath(instance.id) } };
    this.cast({ notificationType: 'VnfIdentifierCreationNotification', vnfInstanceId: instance.id, links }, { notificationType: 'VnfIdentifierCreationNotification' });
    return respond(201, this.views.instance(instance), { Location: this.views.instancePath(instance.id) });
  }

  private listInstances(request: SimRequest): SimResponse {
    return respond(200, this.core.listInstances(request, this.views));
  }

  /** controller.delete: the deletion notification's vnfInstance link is an unexpanded template (sic). */
  private deleteInstance(id: string): SimResponse {
    const instance = this.instance(id);
    this.checkState(instance, 'NOT_INSTANTIATED', 'delete');
    this.core.removeInstance(id);
    const links = { vnfInstance: 'href:{apiRoot}/vnflcm/v1/vnf_instances/{vnfInstanceId}' };
    this.cast({ notificationType: 'VnfIdentifierDeletionNotification', vnfInstanceId: id, links }, { notificationType: 'VnfIdentifierDeletionNotification' });
    return respond(204);
  }

  private listOpOccs(request: SimRequest): SimResponse {
    return respond(200, this.core.listOpOccs(request, this.views));
  }

  private showOpOcc(id: string): SimResponse {
    const occ = this.state.opOccOf('v1', id);
    if (occ === undefined) return problem(404, `VnfLcmOpOcc ${id} could not be found.`, 'VnfLcmOpOcc NOT FOUND');
    return respond(200, this.views.opOcc(occ));
  }

  /**
   * check_vnf_state (instantiation_state, task_state) and check_vnf_status: a running operation is a
   * task_state, a FAILED_TEMP one leaves the vnf in status ERROR.
   */
  private checkState(instance: SimVnfInstance, expected: SimVnfInstance['instantiationState'], action: string): void {
    if (instance.instantiationState !== expected) {
      throw new V1Fault(409, `Vnf instance ${instance.id} in instantiation_state ${instance.instantiationState}. Cannot ${action} while the vnf instance is in this state.`);
    }
    if (instance.isLocked) throw new V1Fault(409, `Vnf instance ${instance.id} in task_state BUSY. Cannot ${action} while the vnf instance is in this state.`);
    if (this.state.hasFailedTemp(instance.id)) throw new V1Fault(409, `Vnf ${instance.id} in status ERROR. Cannot ${action} while the vnf is in this state.`);
  }

  private vnfdOf(instance: SimVnfInstance): SimVnfd {
    const vnfd = this.state.vnfds.get(instance.vnfdId);
    if (vnfd === undefined) throw new V1Fault(404, `Can not find requested vnf package vnfd: ${instance.vnfdId}`);
    return vnfd;
  }

  /** _validate_flavour_and_inst_level runs before anything is stored: unknown ids are a 400. */
  private instantiate(request: SimRequest): SimResponse {
    const body = parsed(instantiateRequestSchema, request);
    const instance = this.instance(request.params.id);
    this.checkState(instance, 'NOT_INSTANTIATED', 'instantiate');
    const vnfd = this.vnfdOf(instance);
    if (!isFlavourKnown(vnfd, body.flavourId)) throw new V1Fault(400, `No flavour with id '${body.flavourId}'.`);
    if (initialScaleLevels(vnfd, body.instantiationLevelId) === undefined) throw new V1Fault(400, `No instantiation level with id '${body.instantiationLevelId ?? ''}'.`);
    const work = instantiateWork({ engine: this.state.engine, instance, vnfd }, body);
    return this.startOperation(instance, 'INSTANTIATE', body, (occ) => ({ work, affected: (_before, after) => this.views.affectedVnfcs(undefined, after), occ }));
  }

  /** v1 heal names VNFCs by vnfcResourceInfo id (v2 uses vnfcInfo ids). */
  private heal(request: SimRequest): SimResponse {
    const body = parsed(healRequestSchema, request);
    const instance = this.instance(request.params.id);
    this.checkState(instance, 'INSTANTIATED', 'heal');
    const known = new Set(instance.vnfcs.map((vnfc) => vnfc.resourceInfoId));
    const unknown = body.vnfcInstanceId?.find((vnfcId) => !known.has(vnfcId));
    if (unknown !== undefined) throw new V1Fault(400, `Vnfc id ${unknown} not present in vnf instance ${instance.id}`);
    const targets = body.vnfcInstanceId === undefined ? [...instance.vnfcs] : instance.vnfcs.filter((vnfc) => body.vnfcInstanceId?.includes(vnfc.resourceInfoId));
    const work = healWork({ engine: this.state.engine, instance, vnfd: this.vnfdOf(instance) }, targets, body.additionalParams);
    return this.startOperation(instance, 'HEAL', body, (occ) => ({ work, affected: (before, after) => this.views.affectedVnfcs(before, after), occ }));
  }

  private terminate(request: SimRequest): SimResponse {
    const body = parsed(terminateRequestSchema, request);
    const instance = this.instance(request.params.id);
    this.checkState(instance, 'INSTANTIATED', 'terminate');
    const work = terminateWork({ engine: this.state.engine, instance, vnfd: this.vnfdOf(instance) });
    return this.startOperation(instance, 'TERMINATE', body, (occ) => ({ work, affected: (before) => this.views.affectedVnfcs(before, undefined), occ }));
  }

  /**
   * The controller stores the occurrence STARTING with the request as JSON text, casts the STARTING
   * notification and the operation to the conductor, and answers 202 with the occurrence's path.
   */
  private startOperation(
    instance: SimVnfInstance,
    operation: 'INSTANTIATE' | 'HEAL' | 'TERMINATE',
    body: unknown,
    describe: (occ: SimOpOcc) => Pick<V1Operation, 'work' | 'affected' | 'occ'>,
  ): SimResponse {
    const occ = this.state.newOpOcc(instance, operation, JSON.stringify(body));
    const links = { vnfInstance: { href: this.views.instancePath(instance.id) }, vnfLcmOpOcc: { href: this.views.opOccPath(occ.id) } };
    const starting = { notificationType: 'VnfLcmOperationOccurrenceNotification', notificationStatus: 'START', operationState: 'STARTING', vnfInstanceId: instance.id, operation, isAutomaticInvocation: false, _links: links, vnfLcmOpOccId: occ.id };
    this.cast(starting, { notificationType: 'VnfLcmOperationOccurrenceNotification', operation });
    const notification = { notificationType: 'VnfLcmOperationOccurrenceNotification', notificationStatus: 'START', operationState: 'STARTING', vnfInstanceId: instance.id, operation, isAutomaticInvocation: false, vnfLcmOpOccId: occ.id, _links: structuredClone(links) };
    this.conduct({ ...describe(occ), instance, notification, isScale: false });
    return respond(202, undefined, { Location: this.views.opOccPath(occ.id) });
  }

  /**
   * controller._scale: vnf status must be ACTIVE and the instance scalable, then level checks
   * answered as ProblemDetails; the request is stored in snake_case with is_reverse/is_auto filled
   * in as strings, and isAutomaticInvocation is the string "False". Links here carry the endpoint.
   */
  private scale(request: SimRequest): SimResponse {
    const body = parsed(scaleRequestSchema, request);
    const instance = this.state.instanceOf('v1', request.params.id ?? '');
    if (instance === undefined) return problem(404, `Can not find requested vnf instance: ${request.params.id ?? ''}`, 'VNF NOT FOUND');
    const refusal = this.scaleRefusal(instance, body);
    if (refusal !== undefined) return refusal;
    const given = body.additionalParams ?? {};
    const additionalParams = { ...given, is_reverse: flagText(given.is_reverse), is_auto: flagText(given.is_auto) };
    const params = { type: body.type, aspect_id: body.aspectId, number_of_steps: body.numberOfSteps ?? 1, additional_params: additionalParams };
    const occ = this.state.newOpOcc(instance, 'SCALE', JSON.stringify(params));
    occ.isAutomaticInvocation = additionalParams.is_auto;
    const links = { vnfInstance: { href: this.views.absolute(this.views.instancePath(instance.id)) }, vnfLcmOpOcc: { href: this.views.absolute(this.views.opOccPath(occ.id)) } };
    const notification = { notificationType: 'VnfLcmOperationOccurrenceNotification', vnfInstanceId: instance.id, notificationStatus: 'START', operation: 'SCALE', operationState: 'STARTING', isAutomaticInvocation: additionalParams.is_auto, vnfLcmOpOccId: occ.id, _links: links };
    this.cast(structuredClone(notification), { notificationType: 'VnfLcmOperationOccurrenceNotification', operation: 'SCALE' });
    const scaleParams = { type: body.type, aspectId: body.aspectId, numberOfSteps: params.number_of_steps, additionalParams };
    const work = scaleWork({ engine: this.state.engine, instance, vnfd: this.vnfdOf(instance) }, scaleParams, additionalParams.is_reverse === 'True');
    this.conduct({ occ, instance, work, notification, affected: (before, after) => this.views.scaleAffectedVnfcs(before, after), isScale: true });
    return respond(202, undefined, { Location: this.views.absolute(this.views.opOccPath(occ.id)) });
  }

  private scaleRefusal(instance: SimVnfInstance, body: { type: string; aspectId: string; numberOfSteps?: number }): SimResponse | undefined {
    const isActive = instance.instantiationState === 'INSTANTIATED' && !instance.isLocked && !this.state.hasFailedTemp(instance.id);
    if (!isActive) return problem(409, 'VNF IS NOT ACTIVE', 'VNF IS NOT ACTIVE');
    if (Object.keys(instance.scaleLevels).length === 0) return problem(409, 'NOT SCALE VNF', 'NOT SCALE VNF');
    return this.scaleLevelRefusal(instance, body);
  }

  private scaleLevelRefusal(instance: SimVnfInstance, body: { type: string; aspectId: string; numberOfSteps?: number }): SimResponse | undefined {
    const level = instance.scaleLevels[body.aspectId];
    if (level === undefined) return problem(400, 'aspectId not in ScaleStatus', 'aspectId not in ScaleStatus');
    const steps = body.numberOfSteps ?? 1;
    if (body.type === 'SCALE_IN' && (level === 0 || level < steps)) return problem(400, 'can not scale_in', 'can not scale_in');
    const vnfd = this.vnfdOf(instance);
    if (body.type === 'SCALE_OUT' && maxScaleLevel(vnfd, body.aspectId) < level + steps) return problem(400, 'can not scale_out', 'can not scale_out');
    return undefined;
  }

  private conduct(operation: V1Operation): void {
    operation.instance.isLocked = true;
    this.state.runOperation(async () => {
      try {
        await this.runLcm(operation);
      } finally {
        operation.instance.isLocked = false;
        this.state.changed();
      }
    });
  }

  /**
   * conductor_server.instantiate/terminate/heal: PROCESSING, the work, then COMPLETED with the
   * affected resources or FAILED_TEMP with `error` as plain text; these notifications are sent
   * inline, so retries to a slow callback hold the operation up. Scale casts them instead.
   */
  private async runLcm(operation: V1Operation): Promise<void> {
    const { occ, instance, work, notification } = operation;
    const subject: NotificationSubject = { notificationType: 'VnfLcmOperationOccurrenceNotification', operation: occ.operation };
    this.state.enterState(occ, 'PROCESSING');
    notification.operationState = 'PROCESSING';
    await this.send(structuredClone(notification), subject, operation.isScale);
    const before = [...instance.vnfcs];
    try {
      const after = await work.apply();
      instance.vnfcs = after;
      work.commit();
      occ.affectedVnfcs = operation.affected(before, after);
      this.state.enterState(occ, 'COMPLETED');
      Object.assign(notification, this.resultFields(operation, 'COMPLETED'));
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      occ.error = { status: 500, detail };
      this.state.enterState(occ, 'FAILED_TEMP');
      Object.assign(notification, this.resultFields(operation, 'FAILED_TEMP'), { error: detail });
    }
    await this.send(notification, subject, operation.isScale);
  }

  private resultFields(operation: V1Operation, state: 'COMPLETED' | 'FAILED_TEMP'): Json {
    const affected = operation.occ.affectedVnfcs ?? [];
    if (operation.isScale) return { notificationStatus: 'RESULT', operationState: state, ...(affected.length > 0 ? { affectedVnfcs: affected } : {}) };
    return { notificationStatus: 'RESULT', operationState: state, affectedVnfcs: affected, affectedVirtualLinks: [], affectedVirtualStorages: [], changedExtConnectivity: [] };
  }

  private async send(notification: Json, subject: NotificationSubject, isCast: boolean): Promise<void> {
    if (isCast) this.cast(notification, subject);
    else await this.notify(notification, subject);
  }

  /** rpc_api.send_notification with cast=True: the conductor sends while the caller goes on. */
  private cast(notification: Json, subject: NotificationSubject): void {
    this.state.sender.inBackground(() => this.notify(notification, subject));
  }

  /**
   * conductor_server.send_notification: one notification id for every subscriber, then per
   * subscription its id, its link and a fresh timeStamp, sent one subscription after the other.
   */
  private async notify(notification: Json, subject: NotificationSubject): Promise<void> {
    const subscriptions = this.state.subscriptionsOf('v1').filter((subscription) => matchesV1(subscription, subject));
    if (subscriptions.length === 0) return;
    const shared: Json = { ...notification, id: randomUUID() };
    const linksKey = subject.notificationType === 'VnfLcmOperationOccurrenceNotification' ? '_links' : 'links';
    for (const subscription of subscriptions) {
      const message = structuredClone(shared);
      message.subscriptionId = subscription.id;
      const links = message[linksKey];
      if (isRecord(links)) links.subscription = { href: this.views.subscriptionHref(subscription.id) };
      message.timeStamp = formatV1Timestamp(this.state.clock.now());
      await this.state.sender.sendV1(subscription, message);
    }
  }
}

/** Missing or falsy flags become the string "False", as controller._scale fills them in. */
function flagText(value: unknown): string {
  if (value === undefined || value === null || value === false || value === '') return 'False';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

const FILTER_LISTS = ['notificationTypes', 'operationStates', 'operationTypes'] as const;
const INSTANCE_FILTER_LISTS = ['vnfdIds', 'vnfInstanceIds', 'vnfInstanceNames'] as const;

function listIn(record: unknown, key: string): unknown[] {
  return isRecord(record) && Array.isArray(record[key]) ? record[key] : [];
}

/** A requested list must be contained in the existing one (JSON_CONTAINS); an absent one must be absent there too. */
function listsAgree(existing: unknown, requested: unknown, key: string): boolean {
  const wanted = listIn(requested, key);
  const have = listIn(existing, key);
  return wanted.length === 0 ? have.length === 0 : wanted.every((value) => have.includes(value));
}

/** objects/vnf_lcm_subscriptions._vnf_lcm_subscriptions_id_get, which makes create answer 303. */
function isDuplicateV1(existing: SimSubscription, requested: SimSubscription): boolean {
  if (existing.callbackUri !== requested.callbackUri) return false;
  if (!FILTER_LISTS.every((key) => listsAgree(existing.filter, requested.filter, key))) return false;
  const wantedInstanceFilter = requested.filter?.vnfInstanceSubscriptionFilter;
  if (wantedInstanceFilter === undefined) return true;
  const haveInstanceFilter = existing.filter?.vnfInstanceSubscriptionFilter;
  return INSTANCE_FILTER_LISTS.every((key) => listsAgree(haveInstanceFilter, wantedInstanceFilter, key));
}
