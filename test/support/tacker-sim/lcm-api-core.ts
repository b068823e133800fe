import { randomUUID } from 'node:crypto';
import { InvalidAttributeFilterError, matchesAttributeFilter, parseAttributeFilter } from './attribute-filter.js';
import { LCM_OP_OCC_EXCLUDE_DEFAULT, selectAttributes } from './attribute-selector.js';
import type { SimRequest } from './sim-http.js';
import type { TackerState } from './tacker-state.js';
import type { SimOpOcc, SimSubscription, SimVnfInstance, SimVnfd } from './vnf-model.js';

type Json = Record<string, unknown>;

/** How a version of the API renders the shared records. */
export interface LcmViews {
  subscription(subscription: SimSubscription): Json;
  instance(instance: SimVnfInstance): Json;
  opOcc(occ: SimOpOcc): Json;
}

export interface NewInstanceFields {
  vnfInstanceName?: string;
  vnfInstanceDescription?: string;
  metadata?: Json;
}

/**
 * What v1 and v2 share: one store of subscriptions, instances and operation occurrences, the
 * attribute filter of every list, and the record-keeping of create and delete. The versions are
 * thin views over it: their own routes, request checks, error bodies and notification shapes
 * (v1-api.ts, v2-api.ts), each raising its own kind of 400 through `badRequest`.
 */
export class LcmApiCore {
  constructor(
    private readonly state: TackerState,
    private readonly api: SimVnfInstance['api'],
    private readonly badRequest: (detail: string) => Error,
  ) {}

  /** SOL013 §5.2 attribute-based filtering, as both versions apply it to every list. */
  listFilter(request: SimRequest): (item: Json) => boolean {
    const text = request.query.get('filter');
    if (text === null) return () => true;
    try {
      const expressions = parseAttributeFilter(text);
      return (item) => matchesAttributeFilter(item, expressions);
    } catch (error) {
      if (error instanceof InvalidAttributeFilterError) throw this.badRequest(error.message);
      throw error;
    }
  }

  addSubscription(subscription: SimSubscription): void {
    this.state.subscriptions.set(subscription.id, subscription);
    this.state.changed();
  }

  removeSubscription(id: string): void {
    this.state.subscriptions.delete(id);
    this.state.changed();
  }

  listSubscriptions(request: SimRequest, views: LcmViews): Json[] {
    const matches = this.listFilter(request);
    return this.state.subscriptionsOf(this.api).map((subscription) => views.subscription(subscription)).filter(matches);
  }

  /** A new NOT_INSTANTIATED instance of an on-boarded VNFD, stored. */
  addInstance(vnfd: SimVnfd, fields: NewInstanceFields): SimVnfInstance {
    const instance: SimVnfInstance = { api: this.api, id: randomUUID(), vnfdId: vnfd.vnfdId, instantiationState: 'NOT_INSTANTIATED', scaleLevels: {}, vnfcs: [], isLocked: false };
    if (fields.vnfInstanceName !== undefined) instance.vnfInstanceName = fields.vnfInstanceName;
    if (fields.vnfInstanceDescription !== undefined) instance.vnfInstanceDescription = fields.vnfInstanceDescription;
    if (fields.metadata !== undefined) instance.metadata = fields.metadata;
    this.state.instances.set(instance.id, instance);
    this.state.changed();
    return instance;
  }

  removeInstance(id: string): void {
    this.state.instances.delete(id);
    this.state.changed();
  }

  listInstances(request: SimRequest, views: LcmViews): Json[] {
    const matches = this.listFilter(request);
    return [...this.state.instances.values()].filter((instance) => instance.api === this.api).map((instance) => views.instance(instance)).filter(matches);
  }

  /** Lists leave out the big attributes unless asked for (SOL013 §5.3, exclude_default). */
  listOpOccs(request: SimRequest, views: LcmViews): Json[] {
    const matches = this.listFilter(request);
    const listed = this.state.opOccsOf(this.api).map((occ) => views.opOcc(occ)).filter(matches);
    return listed.map((view) => selectAttributes(view, request.query, LCM_OP_OCC_EXCLUDE_DEFAULT));
  }

  /** A subscription record of this version, as the create requests both versions accept describe it. */
  newSubscription(callbackUri: string): SimSubscription {
    return { api: this.api, id: randomUUID(), callbackUri };
  }
}

/** The attributes of VnfLcmOpOcc both versions return alike; each adds its own resourceChanges and links. */
export function opOccView(occ: SimOpOcc, formatTime: (epochMs: number) => string): Json {
  const view: Json = {
    id: occ.id,
    operationState: occ.operationState,
    stateEnteredTime: formatTime(occ.stateEnteredTime),
    startTime: formatTime(occ.startTime),
    vnfInstanceId: occ.vnfInstanceId,
    operation: occ.operation,
    isAutomaticInvocation: occ.isAutomaticInvocation,
    operationParams: occ.operationParams,
    isCancelPending: false,
  };
  if (occ.error !== undefined) view.error = occ.error;
  return view;
}
