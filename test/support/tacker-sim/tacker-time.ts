import { systemClock } from '../../../src/clock.js';

/** The wall clock, for simulators run without an injected one: the product's own. */
export const realClock = systemClock;

/**
 * v2 datetimes go through oslo.versionedobjects' DateTimeField, whose isotime() drops the
 * fraction and appends `Z` (tacker/sol_refactored/objects, timeStamp from datetime.utcnow()).
 */
export function formatV2Timestamp(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * v1 sends `datetime.datetime.utcnow().isoformat()` (tacker/conductor/conductor_server.py,
 * send_notification): naive, microseconds, and Python omits the fraction when it is zero.
 */
export function formatV1Timestamp(epochMs: number): string {
  const iso = new Date(epochMs).toISOString();
  const millis = epochMs % 1000;
  const seconds = iso.slice(0, 19);
  return millis === 0 ? seconds : `${seconds}.${String(millis * 1000).padStart(6, '0')}`;
}

/**
 * v1 API answers carry datetimes through oslo jsonutils.to_primitive, whose PERFECT_TIME_FORMAT
 * always writes six fraction digits and no zone.
 */
export function formatV1ApiTime(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 19)}.${String((epochMs % 1000) * 1000).padStart(6, '0')}`;
}
