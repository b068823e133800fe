/**
 * Tacker writes its times in two forms, both meaning UTC:
 * - v2 serialises datetimes through oslo.versionedobjects, which appends `Z`:
 *   `2026-05-01T10:00:00Z` (tacker/sol_refactored/objects/v2/vnf_lcm_operation_occurrence_notification.py,
 *   `timeStamp` is a DateTimeField filled from `datetime.utcnow()` in common/lcm_op_occ_utils.py).
 * - v1 sends `datetime.datetime.utcnow().isoformat()` (tacker/conductor/conductor_server.py,
 *   send_notification): no zone, microseconds, and no fraction at all when they happen to be zero.
 *   Its API answers carry the same naive form. Some tools print it with a space instead of `T`.
 * Both are accepted and returned as one canonical ISO 8601 UTC string.
 */
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/i;

interface TimestampParts {
  fields: [number, number, number, number, number, number];
  millis: number;
  zone: string | undefined;
}

function splitTimestamp(value: string): TimestampParts | undefined {
  const match = TIMESTAMP.exec(value.trim());
  if (match === null) return undefined;
  const [, year, month, day, hour, minute, second, fraction, zone] = match;
  const fields = [year, month, day, hour, minute, second].map(Number) as TimestampParts['fields'];
  return { fields, millis: Number((fraction ?? '0').padEnd(3, '0').slice(0, 3)), zone };
}

/** Minutes east of UTC; naive times are UTC because Tacker only ever writes `utcnow()`. */
function zoneOffsetMinutes(zone: string | undefined): number {
  if (zone === undefined || zone.toUpperCase() === 'Z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4)));
}

/** Date.UTC rolls 2026-02-30 over into March; a time Tacker could not have written is rejected instead. */
function isRealCalendarTime(parts: TimestampParts['fields'], utc: Date): boolean {
  const [year, month, day, hour, minute, second] = parts;
  const roundTrip = [utc.getUTCFullYear(), utc.getUTCMonth() + 1, utc.getUTCDate(), utc.getUTCHours(), utc.getUTCMinutes(), utc.getUTCSeconds()];
  return [year, month, day, hour, minute, second].every((field, index) => field === roundTrip[index]);
}

/** The canonical form (`2026-05-01T10:00:00.123Z`), or undefined when the value is no Tacker timestamp. */
export function normalizeTackerTimestamp(value: string): string | undefined {
  const parts = splitTimestamp(value);
  if (parts === undefined) return undefined;
  const [year, month, day, hour, minute, second] = parts.fields;
  const wallClock = new Date(Date.UTC(year, month - 1, day, hour, minute, second, parts.millis));
  if (!isRealCalendarTime(parts.fields, wallClock)) return undefined;
  return new Date(wallClock.getTime() - zoneOffsetMinutes(parts.zone) * 60_000).toISOString();
}

/** True for v2's zoned form; v1 never writes a zone. One of the signals that tell the two APIs apart. */
export function hasZoneDesignator(value: string): boolean {
  return splitTimestamp(value)?.zone !== undefined;
}

export function isTackerTimestamp(value: string): boolean {
  return normalizeTackerTimestamp(value) !== undefined;
}

export const TIMESTAMP_PROBLEM = 'must be a timestamp like 2026-05-01T10:00:00Z (v2) or 2026-05-01T10:00:00.123456 (v1, UTC)';
