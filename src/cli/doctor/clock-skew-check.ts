import { check, type CheckResult } from './doctor-check.js';

/** An HTTP `Date` header and when the request that got it was sent and answered, by the local clock. */
export interface ServerDate {
  server: string;
  date: string;
  sentAtMs: number;
  receivedAtMs: number;
}

/**
 * Beyond this the VMs' bootstrap tokens and certificates start to misbehave: a token's `nbf`/`iat`
 * in the future is refused by istiod's TokenReview, Keystone tokens seem to expire early, and the
 * certificate renewal (`mesh.istioCa.renewBefore`) fires at the wrong time.
 */
export const SKEW_WARN_MS = 5_000;
export const SKEW_FAIL_MS = 60_000;
/** `Date` has whole seconds: up to a second of apparent skew is only its rounding. */
const DATE_RESOLUTION_MS = 1_000;

function skewOf(sample: ServerDate): number | undefined {
  const serverMs = Date.parse(sample.date);
  if (Number.isNaN(serverMs)) return undefined;
  const localMs = (sample.sentAtMs + sample.receivedAtMs) / 2;
  const raw = serverMs + DATE_RESOLUTION_MS / 2 - localMs;
  const uncertainty = DATE_RESOLUTION_MS / 2 + (sample.receivedAtMs - sample.sentAtMs) / 2;
  // Only the part of the difference that rounding and the round trip cannot explain counts.
  return Math.sign(raw) * Math.max(0, Math.abs(raw) - uncertainty);
}

function describe(server: string, skewMs: number): string {
  const seconds = Math.round(Math.abs(skewMs) / 1000);
  return `${server} ${skewMs > 0 ? 'is ahead of' : 'is behind'} this host by ${seconds}s`;
}

export function clockSkewCheck(samples: ServerDate[]): CheckResult {
  const title = 'Clock skew';
  const measured = samples.flatMap((sample) => {
    const skewMs = skewOf(sample);
    return skewMs === undefined ? [] : [{ server: sample.server, skewMs }];
  });
  if (measured.length === 0) return check('clock-skew', title, { status: 'info', detail: 'no server answered with a Date header to compare against' });
  const worst = measured.reduce((a, b) => (Math.abs(b.skewMs) > Math.abs(a.skewMs) ? b : a));
  const findings = measured.map((item) => (Math.abs(item.skewMs) < DATE_RESOLUTION_MS ? `${item.server}: in step` : describe(item.server, item.skewMs)));
  const hint = 'Run NTP (chrony or systemd-timesyncd) on this host and on the control plane.';
  if (Math.abs(worst.skewMs) >= SKEW_FAIL_MS) return check('clock-skew', title, { status: 'fail', detail: describe(worst.server, worst.skewMs), findings, hint });
  if (Math.abs(worst.skewMs) >= SKEW_WARN_MS) return check('clock-skew', title, { status: 'warn', detail: describe(worst.server, worst.skewMs), findings, hint });
  return check('clock-skew', title, { status: 'pass', detail: `within ${SKEW_WARN_MS / 1000}s of ${measured.map((item) => item.server).join(', ')}`, findings });
}
