import { DETECTOR_IDS, type DetectorId } from '@candor/shared/schemas/policy';
import { email, phone } from './detectors/contact.ts';
import { featuresOf, type Detector, type Span } from './detectors/detector.ts';
import { iban, paymentCard, usSsn } from './detectors/financial.ts';
import { personName } from './detectors/names.ts';
import { credentialUrl, ipAddress } from './detectors/network.ts';
import { secret } from './detectors/secrets.ts';

export type { Detector, Span } from './detectors/detector.ts';

/** Every detector Candor ships, by id; a policy picks from these. */
export const DETECTORS: Readonly<Record<DetectorId, Detector>> = {
  email,
  phone,
  'payment-card': paymentCard,
  'us-ssn': usSsn,
  iban,
  'ip-address': ipAddress,
  'credential-url': credentialUrl,
  secret,
  'person-name': personName,
};

/** The detectors a policy runs, in Candor's fixed order (so manifests compare equal). */
export function detectorsFor(ids: readonly DetectorId[]): readonly Detector[] {
  return DETECTOR_IDS.filter((id) => ids.includes(id)).map((id) => DETECTORS[id]);
}

/** The manifest's `detectors` field: which detectors ran, at which versions. */
export function detectorVersions(detectors: readonly Detector[]): { id: DetectorId; version: number }[] {
  return detectors.map((detector) => ({ id: detector.id, version: detector.version }));
}

/**
 * Everything the detectors find in `text`, merged: sorted by start, overlapping or touching
 * spans joined (the earlier detector names the joined span).
 */
export function findSpans(text: string, detectors: readonly Detector[]): readonly Span[] {
  const features = featuresOf(text);
  let found: Span[] | undefined;
  for (const detector of detectors) {
    if (!detector.mayMatch(features, text)) continue;
    found ??= [];
    detector.find(text, found, features);
  }
  if (found === undefined || found.length === 0) return NOTHING_FOUND;
  if (found.length === 1) return found;
  sortSpans(found);
  // Merged in place: the spans were made for this call, so no one else holds them.
  let kept = 0;
  for (const span of found) {
    const last = kept === 0 ? undefined : found[kept - 1];
    if (last !== undefined && span.start <= last.end) last.end = Math.max(last.end, span.end);
    else found[kept++] = span;
  }
  found.length = kept;
  return found;
}

/**
 * By start, the longer first: an insertion sort, since a text holds a handful of findings
 * and Array.prototype.sort with a comparator costs more than that to set up.
 */
function sortSpans(spans: Span[]): void {
  for (let index = 1; index < spans.length; index += 1) {
    const span = spans[index];
    if (span === undefined) continue;
    let to = index;
    for (let before = spans[to - 1]; before !== undefined && (before.start > span.start || (before.start === span.start && before.end < span.end)); before = spans[to - 1]) {
      spans[to] = before;
      to -= 1;
    }
    spans[to] = span;
  }
}

const NOTHING_FOUND: readonly Span[] = Object.freeze([]);

/** `text` with every span replaced by `[detector-id]`. */
export function replaceSpans(text: string, spans: readonly Span[]): string {
  let out = '';
  let cursor = 0;
  for (const span of spans) {
    out += `${text.slice(cursor, span.start)}[${span.detector}]`;
    cursor = span.end;
  }
  return out + text.slice(cursor);
}
