import { selectAttributes, V2_INSTANCE_EXCLUDE_DEFAULT } from './attribute-selector.js';
import { cnfInstantiateWork, cnfRequestProblem, cnfScaleWork, cnfTerminateWork, isCnfPackage, type CnfTarget } from './cnf-work.js';
import { LcmApiCore } from './lcm-api-core.js';
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
import { headerValue, parseJsonBody, route, type Route, type RouteHandler, type SimRequest, type SimResponse } from './sim-http.js';
import { SolError, solError } from './sol-error.js';
import { matchesV2, type NotificationSubject } from './subscription-filter.js';
import type { TackerState } from './tacker-state.js';
import { V2Views, vnfcInfoId } from './v2-views.js';
import {
  initialScaleLevels,
  isFlavourKnown,
  maxScaleLevel,
  type SimOpOcc,
  type SimSubscription,
  type SimVnfInstance,
  type SimVnfd,
  type SubscriptionAuthentication,
} from './vnf-model.js';
import type { z } from 'zod';

type Json = Record<string, unknown>;

const API_VERSIONS = { uriPrefix: '/vnflcm/v2', apiVersions: [{ version: '2.0.0', isDeprecated: false }] };
const VERSION_FORMAT = /^([1-9]\d*)\.([1-9]\d*|0)\.([1-9]\d*|0)$/;

export interface V2ApiOptions {
  /** [v2_nfvo] test_callback_uri (default true): test the callback before accepting a subscription. */
  testCallbackUri: boolean;
}

/** SolResponse: every answer carries `version` and `accept-ranges: none`. */
function respond(status: number, body?: unknown, extraHeaders: Record<string, string> = {}): SimResponse {
  return { status, headers: { 'Content-Type': 'application/json', version: '2.0.0', 'accept-ranges': 'none', ...extraHeaders }, body };
}

function problem(error: SolError): SimResponse {
  return { status: error.status, headers: { 'Content-Type': 'application/problem+json', version: '2.0.0', 'accept-ranges': 'none' }, body: error.problemDetails() };
}

/** sol_wsgi.SolResource: Content-Type (415), body (400), Accept (406), then Version (400/406). */
function checkRequest(request: SimRequest, isVersioned: boolean): unknown {
  const body = readBody(request);
  const accept = headerValue(request.headers, 'accept');
  if (accept !== undefined && !acceptsJson(accept)) throw solError(406, `Content type '${accept}' specified in 'Accept' header is not allowed.`);
  if (isVersioned) checkVersion(headerValue(request.headers, 'version'));
  return body;
}

function readBody(request: SimRequest): unknown {
  if (!['POST', 'PATCH', 'PUT'].includes(request.method) || request.rawBody === '') return undefined;
  const contentType = headerValue(request.headers, 'content-type')?.split(';')[0]?.trim();
  if (contentType !== undefined && contentType !== '' && !['application/json', 'text/plain'].includes(contentType)) {
    throw solError(415, `Content type '${contentType}' specified in 'Content-Type' header is not allowed.`);
  }
  try {
    return parseJsonBody(request);
  } catch {
    throw solError(400, 'Malformed request body.');
  }
}

function acceptsJson(accept: string): boolean {
  return accept.split(',').some((range) => {
    const [type = '', ...params] = range.split(';').map((part) => part.trim());
    const isZero = params.some((param) => /^q=0(\.0*)?$/.test(param));
    return !isZero && ['*/*', 'application/*', 'application/json'].includes(type);
  });
}

/** api_version.APIVersion with the v2 controller's supported versions. */
function checkVersion(version: string | undefined): void {
  if (version === undefined) throw solError(400, "'Version' HTTP header missing.");
  const parts = version.split('-');
  const id = parts.length === 2 && parts[1]?.startsWith('impl:') === true ? (parts[0] ?? '') : version;
  if (!VERSION_FORMAT.test(id)) throw solError(400, `Version String ${version} is of invalid format. Must be of format Major.Minor.Patch.`);
  if (id !== '2.0.0') throw solError(406, `Version ${id} not supported.`);
}

function parsed<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = parseRequest(schema, body);
  if (!result.ok) throw solError(400, result.detail);
  return result.value;
}

/** The SOL003 v2 API as tacker/sol_refactored/controller/vnflcm_v2.py serves it. */
export class V2Api {
  private readonly views: V2Views;
  private readonly core: LcmApiCore;

  constructor(
    private readonly state: TackerState,
    private readonly options: V2ApiOptions,
  ) {
    this.views = new V2Views(state);
    this.core = new LcmApiCore(state, 'v2', (detail) => solError(400, detail));
  }

  routes(): Route[] {
    const prefix = '/vnflcm/v2';
    const guarded = (handler: (request: SimRequest, body: unknown) => Promise<SimResponse> | SimResponse, isVersioned = true): RouteHandler => {
      return async (request) => {
        try {
          return await handler(request, checkRequest(request, isVersioned));
        } catch (error) {
          if (error instanceof SolError) return problem(error);
          return problem(new SolError(500, error instanceof Error ? error.message : String(error)));
        }
      };
    };
    return [
      route('GET', `${prefix}/api_versions`, guarded(() => respond(200, API_VERSIONS), false)),
      route('POST', `${prefix}/subscriptions`, guarded((_request, body) => this.createSubscription(body))),
      route('GET', `${prefix}/subscriptions`, guarded((request) => this.listSubscriptions(request))),
      route('GET', `${prefix}/subscriptions/{id}`, guarded((request) => respond(200, this.views.subscription(this.subscription(request.params.id))))),
      route('DELETE', `${prefix}/subscriptions/{id}`, guarded((request) => this.deleteSubscription(request.params.id ?? ''))),
      route('POST', `${prefix}/vnf_instances`, guarded((_request, body) => this.createInstance(body))),
      route('GET', `${prefix}/vnf_instances`, guarded((request) => this.listInstances(request))),
      route('GET', `${prefix}/vnf_instances/{id}`, guarded((request) => respond(200, this.views.instance(this.instance(request.params.id))))),
      route('DELETE', `${prefix}/vnf_instances/{id}`, guarded((request) => this.deleteInstance(request.params.id ?? ''))),
      route('POST', `${prefix}/vnf_instances/{id}/instantiate`, guarded((request, body) => this.instantiate(request.params.id ?? '', body))),
      route('POST', `${prefix}/vnf_instances/{id}/scale`, guarded((request, body) => this.scale(request.params.id ?? '', body))),
      route('POST', `${prefix}/vnf_instances/{id}/heal`, guarded((request, body) => this.heal(request.params.id ?? '', body))),
      route('POST', `${prefix}/vnf_instances/{id}/terminate`, guarded((request, body) => this.terminate(request.params.id ?? '', body))),
      route('GET', `${prefix}/vnf_lcm_op_occs`, guarded((request) => this.listOpOccs(request))),
      route('GET', `${prefix}/vnf_lcm_op_occs/{id}`, guarded((request) => respond(200, this.views.opOcc(this.opOcc(request.params.id))))),
    ];
  }

  /** SolAPIController.reject: reached after the usual request checks. */
  methodNotAllowed(): RouteHandler {
    return (request) => {
      try {
        checkRequest(request, true);
        return problem(solError(405, `Method ${request.method} is not supported.`));
      } catch (error) {
        return problem(error as SolError);
      }
    };
  }

  private subscription(id: string | undefined): SimSubscription {
    const subscription = this.state.subscriptionOf('v2', id ?? '');
    if (subscription === undefined) throw solError(404, `LccnSubscription ${id ?? ''} not found.`);
    return subscription;
  }

  private instance(id: string | undefined): SimVnfInstance {
    const instance = this.state.instanceOf('v2', id ?? '');
    if (instance === undefined) throw solError(404, `VnfInstance ${id ?? ''} not found.`);
    return instance;
  }

  private opOcc(id: string | undefined): SimOpOcc {
    const occ = this.state.opOccOf('v2', id ?? '');
    if (occ === undefined) throw solError(404, `VnfLcmOpOcc ${id ?? ''} not found.`);
    return occ;
  }

  /**
   * vnflcm_v2.subscription_create: no duplicate check (the same request twice makes two
   * subscriptions); the callback must answer the test GET before the subscription is stored.
   */
  private async createSubscription(body: unknown): Promise<SimResponse> {
    const request = parsed(subscriptionRequestSchema, body);
    const subscription: SimSubscription = { ...this.core.newSubscription(request.callbackUri), verbosity: request.verbosity ?? 'FULL' };
    if (request.filter !== undefined && Object.keys(request.filter).length > 0) subscription.filter = request.filter;
    if (request.authentication !== undefined) subscription.authentication = checkedAuthentication(request.authentication);
    if (this.options.testCallbackUri) {
      const outcome = await this.state.sender.testV2(subscription);
      if (outcome.kind === 'failed') throw outcome.status === 422 ? solError(422, outcome.detail) : new SolError(500, outcome.detail);
    }
    this.core.addSubscription(subscription);
    return respond(201, this.views.subscription(subscription), { location: this.views.subscriptionHref(subscription.id) });
  }

  private listSubscriptions(request: SimRequest): SimResponse {
    return respond(200, this.core.listSubscriptions(request, this.views));
  }

  private deleteSubscription(id: string): SimResponse {
    this.subscription(id);
    this.core.removeSubscription(id);
    return respond(204);
  }

  /** vnflcm_v2.create: the VNFD must be on-boarded (local NFVO: VnfdIdNotFound, 422). */
  private createInstance(body: unknown): SimResponse {
    const request = parsed(createVnfRequestSchema, body);
    const vnfd = this.state.vnfds.get(request.vnfdId);
    if (vnfd === undefined) throw solError(422, `VnfPackage of vnfdId ${request.vnfdId} is not found or not operational.`);
    // v2 stores empty names, descriptions and metadata as absent.
    const instance = this.core.addInstance(vnfd, {
      ...(request.vnfInstanceName === undefined || request.vnfInstanceName === '' ? {} : { vnfInstanceName: request.vnfInstanceName }),
      ...(request.vnfInstanceDescription === undefined || request.vnfInstanceDescription === '' ? {} : { vnfInstanceDescription: request.vnfInstanceDescription }),
      ...(request.metadata === undefined || Object.keys(request.metadata).length === 0 ? {} : { metadata: request.metadata }),
    });
    this.notifyIdentifier(instance, 'VnfIdentifierCreationNotification');
    return respond(201, this.views.instance(instance), { location: this.views.instHref(instance.id) });
  }

  private listInstances(request: SimRequest): SimResponse {
    return respond(200, this.core.listInstances(request, this.views).map((view) => selectAttributes(view, request.query, V2_INSTANCE_EXCLUDE_DEFAULT)));
  }

  private deleteInstance(id: string): SimResponse {
    const instance = this.instance(id);
    if (instance.isLocked) throw solError(409, `Other LCM operation of vnfInstance ${id} is in progress.`);
    if (instance.instantiationState !== 'NOT_INSTANTIATED') throw solError(409, `VnfInstance ${id} is instantiated.`);
    if (this.state.hasFailedTemp(id)) throw solError(409, `Other LCM operation of vnfInstance ${id} is in progress.`);
    this.core.removeInstance(id);
    this.notifyIdentifier(instance, 'VnfIdentifierDeletionNotification');
    return respond(204);
  }

  private listOpOccs(request: SimRequest): SimResponse {
    return respond(200, this.core.listOpOccs(request, this.views));
  }

  /** coordinate.lock_vnf_instance, the state check, then lcm_op_occ_utils.check_lcmocc_in_progress. */
  private acquire(id: string, expected: SimVnfInstance['instantiationState']): { instance: SimVnfInstance; vnfd: SimVnfd } {
    const instance = this.instance(id);
    if (instance.isLocked) throw solError(409, `Other LCM operation of vnfInstance ${id} is in progress.`);
    if (instance.instantiationState !== expected) {
      throw solError(409, expected === 'INSTANTIATED' ? `VnfInstance ${id} isn't instantiated.` : `VnfInstance ${id} is instantiated.`);
    }
    if (this.state.hasFailedTemp(id)) throw solError(409, `Other LCM operation of vnfInstance ${id} is in progress.`);
    const vnfd = this.state.vnfds.get(instance.vnfdId);
    if (vnfd === undefined) throw solError(422, `VnfPackage of vnfdId ${instance.vnfdId} is not found or not operational.`);
    return { instance, vnfd };
  }

  private instantiate(id: string, body: unknown): SimResponse {
    const request = parsed(instantiateRequestSchema, body);
    const { instance, vnfd } = this.acquire(id, 'NOT_INSTANTIATED');
    const cnfProblem = isCnfPackage(vnfd) ? cnfRequestProblem(vnfd, request, this.state.kubernetes) : undefined;
    if (cnfProblem !== undefined) throw solError(400, cnfProblem);
    const occ = this.state.newOpOcc(instance, 'INSTANTIATE', request);
    const work = isCnfPackage(vnfd) ? cnfInstantiateWork(this.cnfTarget(instance, vnfd), request) : instantiateWork({ engine: this.state.engine, instance, vnfd }, request);
    this.conduct(occ, instance, work, grantProblem(vnfd, request));
    return respond(202, undefined, { location: this.views.opOccHref(occ.id) });
  }

  /** vnflcm_v2.scale: numberOfSteps defaults to 1 in the stored request; the level must stay in [0, max]. */
  private scale(id: string, body: unknown): SimResponse {
    const request = parsed(scaleRequestSchema, body);
    const { instance, vnfd } = this.acquire(id, 'INSTANTIATED');
    const params = { ...request, numberOfSteps: request.numberOfSteps ?? 1 };
    const level = instance.scaleLevels[params.aspectId];
    if (level === undefined) throw solError(400, `Invalid aspectId '${params.aspectId}'.`);
    const target = level + (params.type === 'SCALE_IN' ? -params.numberOfSteps : params.numberOfSteps);
    if (target < 0 || target > maxScaleLevel(vnfd, params.aspectId)) throw solError(400, `Invalid numberOfSteps '${params.numberOfSteps}'.`);
    const occ = this.state.newOpOcc(instance, 'SCALE', params);
    this.conduct(occ, instance, instance.cnf === undefined ? scaleWork({ engine: this.state.engine, instance, vnfd }, params, true) : cnfScaleWork(this.cnfTarget(instance, vnfd), params));
    return respond(202, undefined, { location: this.views.opOccHref(occ.id) });
  }

  /** vnflcm_v2.heal: vnfcInstanceId names vnfcInfo ids; without it every VNFC is healed (SOL003 heal). */
  private heal(id: string, body: unknown): SimResponse {
    const request = parsed(healRequestSchema, body);
    const { instance, vnfd } = this.acquire(id, 'INSTANTIATED');
    if (instance.cnf !== undefined) throw solError(422, 'The simulator does not heal CNFs.');
    const all = request.additionalParams?.all ?? false;
    if (typeof all !== 'boolean') throw solError(400, "additionalParams['all'] must be bool.");
    const known = new Map(instance.vnfcs.map((vnfc) => [vnfcInfoId(vnfc), vnfc]));
    const unknown = request.vnfcInstanceId?.find((vnfcId) => !known.has(vnfcId));
    if (unknown !== undefined) throw solError(400, `vnfcInstanceId(${unknown}) does not exist.`);
    const targets = request.vnfcInstanceId === undefined ? [...instance.vnfcs] : instance.vnfcs.filter((vnfc) => request.vnfcInstanceId?.includes(vnfcInfoId(vnfc)));
    const occ = this.state.newOpOcc(instance, 'HEAL', request);
    this.conduct(occ, instance, healWork({ engine: this.state.engine, instance, vnfd }, targets, request.additionalParams));
    return respond(202, undefined, { location: this.views.opOccHref(occ.id) });
  }

  private terminate(id: string, body: unknown): SimResponse {
    const request = parsed(terminateRequestSchema, body);
    const { instance, vnfd } = this.acquire(id, 'INSTANTIATED');
    const occ = this.state.newOpOcc(instance, 'TERMINATE', request);
    this.conduct(occ, instance, instance.cnf === undefined ? terminateWork({ engine: this.state.engine, instance, vnfd }) : cnfTerminateWork(this.cnfTarget(instance, vnfd)));
    return respond(202, undefined, { location: this.views.opOccHref(occ.id) });
  }

  /** Only reached once cnfRequestProblem found the VIM, or for an instance instantiated on it. */
  private cnfTarget(instance: SimVnfInstance, vnfd: SimVnfd): CnfTarget {
    const vim = this.state.kubernetes;
    if (vim === undefined) throw solError(422, 'No Kubernetes VIM is registered.');
    return { vim, instance, vnfd, clock: this.state.clock };
  }

  /** The 202 is answered first; the conductor runs the operation holding the instance's lock. */
  private conduct(occ: SimOpOcc, instance: SimVnfInstance, work: LcmWork, startingProblem?: Json): void {
    instance.isLocked = true;
    this.state.runOperation(async () => {
      try {
        await this.runLcm(occ, instance, work, startingProblem);
      } finally {
        instance.isLocked = false;
        this.state.changed();
      }
    });
  }

  /**
   * conductor_v2._start_lcm_op (SOL003 5.4.1.2): STARTING is notified, a failure while granting ends
   * ROLLED_BACK, otherwise PROCESSING, then COMPLETED with resourceChanges or FAILED_TEMP with the
   * error as ProblemDetails; every state is notified.
   */
  private async runLcm(occ: SimOpOcc, instance: SimVnfInstance, work: LcmWork, startingProblem?: Json): Promise<void> {
    this.notifyOcc(occ, instance);
    if (startingProblem !== undefined) {
      occ.error = startingProblem;
      this.state.enterState(occ, 'ROLLED_BACK');
      this.notifyOcc(occ, instance);
      return;
    }
    this.state.enterState(occ, 'PROCESSING');
    this.notifyOcc(occ, instance);
    const before = [...instance.vnfcs];
    try {
      const after = await work.apply();
      instance.vnfcs = after;
      work.commit();
      const affected = this.views.affectedVnfcs(before, after);
      if (affected.length > 0) occ.affectedVnfcs = affected;
      this.state.enterState(occ, 'COMPLETED');
    } catch (error) {
      occ.error = { status: 422, detail: error instanceof Error ? error.message : String(error), title: `Stack ${work.stackOperation} failed` };
      this.state.enterState(occ, 'FAILED_TEMP');
    }
    this.notifyOcc(occ, instance);
  }

  /** nfvo_client.send_lcmocc_notification: the body is made now, each POST runs in its own thread. */
  private notifyOcc(occ: SimOpOcc, instance: SimVnfInstance): void {
    const subject: NotificationSubject = { notificationType: 'VnfLcmOperationOccurrenceNotification', operation: occ.operation, operationState: occ.operationState };
    for (const subscription of this.matching(subject, instance)) this.state.sender.sendV2(subscription, this.views.lcmNotification(subscription, occ));
  }

  private notifyIdentifier(instance: SimVnfInstance, notificationType: 'VnfIdentifierCreationNotification' | 'VnfIdentifierDeletionNotification'): void {
    for (const subscription of this.matching({ notificationType }, instance)) {
      this.state.sender.sendV2(subscription, this.views.identifierNotification(subscription, instance.id, notificationType));
    }
  }

  private matching(subject: NotificationSubject, instance: SimVnfInstance): SimSubscription[] {
    const vnfd = this.state.vnfds.get(instance.vnfdId);
    if (vnfd === undefined) return [];
    return this.state.subscriptionsOf('v2').filter((subscription) => matchesV2(subscription, subject, { instance, vnfd }));
  }
}

/**
 * vnflcm_v2.subscription_create: BASIC and OAUTH2_CLIENT_CREDENTIALS need their params,
 * TLS_CERT is refused (the typo "ParmasBasic" is Tacker's).
 */
function checkedAuthentication(auth: SubscriptionAuthentication & Json): SubscriptionAuthentication {
  const checked: SubscriptionAuthentication = { authType: auth.authType };
  if (auth.authType.includes('BASIC')) {
    if (auth.paramsBasic === undefined) throw solError(400, 'ParmasBasic must be specified.');
    checked.paramsBasic = { userName: auth.paramsBasic.userName, password: auth.paramsBasic.password };
  }
  if (auth.authType.includes('OAUTH2_CLIENT_CREDENTIALS')) {
    if (auth.paramsOauth2ClientCredentials === undefined) throw solError(400, 'paramsOauth2ClientCredentials must be specified.');
    checked.paramsOauth2ClientCredentials = { ...auth.paramsOauth2ClientCredentials };
  }
  if (auth.authType.includes('TLS_CERT')) throw solError(400, "'TLS_CERT' is not supported at the moment.");
  return checked;
}

/** What vnflcm_driver_v2.instantiate_grant rejects while STARTING: the operation ends ROLLED_BACK. */
function grantProblem(vnfd: SimVnfd, request: { flavourId: string; instantiationLevelId?: string }): Json | undefined {
  if (!isFlavourKnown(vnfd, request.flavourId)) return solError(400, `FlavourId ${request.flavourId} not found in the vnfd.`).problemDetails();
  if (initialScaleLevels(vnfd, request.instantiationLevelId) === undefined) {
    return solError(400, `InstantiationLevelId ${request.instantiationLevelId ?? ''} not found in the vnfd.`).problemDetails();
  }
  return undefined;
}

