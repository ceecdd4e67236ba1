import { UPLOAD_RETRY } from '@candor/shared/defaults';

/**
 * Delay before retry number `attempts` (1 for the first retry): "full jitter" (AWS
 * Architecture Blog, "Exponential Backoff And Jitter"), a uniform draw below a ceiling that
 * doubles from 1 minute up to 2 hours, so a fleet of agents does not retry in step after
 * an outage.
 */
export function retryDelayMs(attempts: number, random: () => number): number {
  const ceiling = Math.min(UPLOAD_RETRY.maxDelayMs, UPLOAD_RETRY.initialDelayMs * 2 ** Math.max(0, attempts - 1));
  return Math.floor(random() * ceiling);
}
