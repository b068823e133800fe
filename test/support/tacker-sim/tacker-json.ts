/**
 * What tests read from the simulator's answers and notifications: only the fields they check,
 * typed loosely enough for both APIs (v1 sends some fields as strings that v2 sends as objects).
 */
export interface ResourceHandleJson {
  resourceId: string;
  vimConnectionId?: string;
  vimLevelResourceType?: string;
}

export interface AffectedVnfcJson {
  id: string;
  vduId: string;
  changeType: string;
  computeResource: ResourceHandleJson;
  [key: string]: unknown;
}

export interface LinkJson {
  href: string;
}

export interface NotificationJson {
  id: string;
  notificationType: string;
  subscriptionId: string;
  vnfInstanceId: string;
  timeStamp: string;
  notificationStatus?: string;
  operationState?: string;
  operation?: string;
  vnfLcmOpOccId?: string;
  verbosity?: string;
  isAutomaticInvocation?: boolean | string;
  affectedVnfcs?: AffectedVnfcJson[];
  error?: unknown;
  _links?: Record<string, LinkJson>;
  /** v1 identifier notifications; the deletion one holds a bare string (sic). */
  links?: Record<string, LinkJson | string>;
  [key: string]: unknown;
}

export interface VnfcResourceInfoJson {
  id: string;
  vduId: string;
  computeResource: ResourceHandleJson;
}

export interface VnfInstanceJson {
  id: string;
  instantiationState: string;
  instantiatedVnfInfo?: {
    flavourId: string;
    vnfState: string;
    scaleStatus?: Array<{ aspectId: string; scaleLevel: number }>;
    vnfcResourceInfo?: VnfcResourceInfoJson[];
    vnfcInfo?: Array<{ id: string; vduId: string; vnfcResourceInfoId: string }>;
  };
  [key: string]: unknown;
}

export interface OpOccJson {
  id: string;
  operationState: string;
  stateEnteredTime: string;
  /** v2: the request object; v1: its JSON text. */
  operationParams?: unknown;
  error?: unknown;
  resourceChanges?: { affectedVnfcs: AffectedVnfcJson[] };
  [key: string]: unknown;
}

export interface SubscriptionJson {
  id: string;
  callbackUri: string;
  verbosity?: string;
  _links: { self: LinkJson };
  [key: string]: unknown;
}

export interface ProblemJson {
  status: number;
  detail: string;
  title?: string;
}
