import { notificationBody } from './tacker-notifications.js';

/** The warm-up's notifications: their own operations, so the measured ones are all new. */
export function body(index: number): string {
  return notificationBody(index, 'warmup');
}
