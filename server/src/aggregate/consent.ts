/**
 * When a device's consent to one study version was in force, from the receipts the API server
 * holds. The aggregator holds every window of an opened batch to it: the API server cannot see
 * when a window started, only that the device consented to the envelope's version at some point.
 */
import type { ConsentReceipt } from '@candor/shared/schemas/consent';

/** The parts of a receipt that say when it held and for what. */
export type ReceiptTimes = {
  header: Pick<ConsentReceipt['header'], 'consentTimestamp'>;
  processing: readonly { captureScope: Pick<ConsentReceipt['processing'][number]['captureScope'], 'studyId' | 'studyVersion'> }[];
  event: Pick<ConsentReceipt['event'], 'state' | 'validUntil'>;
};

/** Half-open [fromMs, untilMs): consent to one version in force. */
export type ConsentPeriod = { fromMs: number; untilMs: number };

/**
 * The periods in which consent to `studyVersion` of `studyId` was in force. `receipts` are one
 * device's receipts in chain order (the server refuses one dated before the last it stored). A
 * given or re-affirmed receipt holds from its consentTimestamp until its validUntil or the
 * device's next receipt for the study, whatever that says (another version, a withdrawal, a
 * refusal), as the newest receipt alone decides at any moment.
 */
export function consentPeriods(receipts: readonly ReceiptTimes[], studyId: string, studyVersion: number): ConsentPeriod[] {
  const ofStudy = receipts.filter((receipt) => receipt.processing.some((purpose) => purpose.captureScope.studyId === studyId));
  const periods: ConsentPeriod[] = [];
  ofStudy.forEach((receipt, index) => {
    const { state, validUntil } = receipt.event;
    if (state !== 'given' && state !== 're-affirmed') return;
    if (!receipt.processing.some((purpose) => purpose.captureScope.studyVersion === studyVersion)) return;
    const fromMs = Date.parse(receipt.header.consentTimestamp);
    const next = ofStudy[index + 1];
    const untilMs = Math.min(validUntil === null ? fromMs : Date.parse(validUntil), next ? Date.parse(next.header.consentTimestamp) : Number.POSITIVE_INFINITY);
    if (untilMs > fromMs) periods.push({ fromMs, untilMs });
  });
  return periods;
}

/**
 * Whether a window overlaps a period of consent. Agents align windows to the wall clock and
 * capture only while consent is in force, so the first window after consenting starts before the
 * consent and its events all come after it; a window that began once consent had ended (a newer
 * version consented to, a withdrawal, an expiry), or ended before consent was given, is outside.
 */
export function windowInConsent(periods: readonly ConsentPeriod[], window: { windowStart: string; windowMinutes: number }): boolean {
  const startMs = Date.parse(window.windowStart);
  const endMs = startMs + window.windowMinutes * 60_000;
  return periods.some((period) => startMs < period.untilMs && endMs > period.fromMs);
}
