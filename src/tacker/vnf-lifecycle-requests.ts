/**
 * SOL 003 v2 request bodies for the VNF lifecycle operations the orchestrator drives, as
 * tacker/sol_refactored/api/schemas/vnflcm_v2.py accepts them. Only the fields this service sets
 * are typed; Tacker validates the rest and answers 400 with the jsonschema message.
 */

/** CreateVnfRequest_V200. Tacker merges `metadata` into the VNFD's own metadata (JSON merge patch). */
export interface CreateVnfRequest {
  vnfdId: string;
  vnfInstanceName?: string;
  vnfInstanceDescription?: string;
  metadata?: Record<string, unknown>;
}

/** InstantiateVnfRequest_V200; `additionalParams.meshSidecar` is where mesh parameters go (docs/tacker-parameters.md). */
export interface InstantiateVnfRequest {
  flavourId: string;
  instantiationLevelId?: string;
  extVirtualLinks?: Array<Record<string, unknown>>;
  extManagedVirtualLinks?: Array<Record<string, unknown>>;
  /** Without it Tacker uses its default VIM. */
  vimConnectionInfo?: Record<string, Record<string, unknown>>;
  localizationLanguage?: string;
  additionalParams?: Record<string, unknown>;
}

/** ScaleVnfRequest_V200; Tacker stores `numberOfSteps` as 1 when it is left out. */
export interface ScaleVnfRequest {
  type: 'SCALE_OUT' | 'SCALE_IN';
  aspectId: string;
  numberOfSteps?: number;
  additionalParams?: Record<string, unknown>;
}

/** TerminateVnfRequest_V200; GRACEFUL without a timeout waits [v2_vnfm] default_graceful_termination_timeout (10 s). */
export interface TerminateVnfRequest {
  terminationType: 'FORCEFUL' | 'GRACEFUL';
  /** Seconds, as SOL 003 counts them. */
  gracefulTerminationTimeout?: number;
  additionalParams?: Record<string, unknown>;
}

/** What a 202 Accepted names: the operation occurrence to follow with waitForLcmOpOcc. */
export interface LcmOperationAccepted {
  vnfLcmOpOccId: string;
}
