import { DETECTOR_IDS, type DetectorId } from '@candor/shared/schemas/policy';
import { email, phone } from './detectors/contact.ts';
import { featuresOf, type Detector, type Span, type TextFeatures } from './detectors/detector.ts';
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
  return Object.freeze(DETECTOR_IDS.filter((id) => ids.includes(id)).map((id) => DETECTORS[id]));
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
  const shipped = shippedDetectors(detectors);
  const found = shipped === NOT_SHIPPED ? findEach(text, features, detectors) : findShipped(text, features, shipped);
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
  // Shortening an array costs more than the test.
  if (kept < found.length) found.length = kept;
  return found;
}

// Shipped detectors in Candor's order, as bits: a list of them, in that order, is run by
// `findShipped`, which calls each detector from a call site of its own, so the engine can
// inline its prefilter and search there. Through one call site that sees nine different
// functions (`findEach`), a line of the corpus took about a tenth longer.
const SHIPPED_ORDER: readonly Detector[] = DETECTOR_IDS.map((id) => DETECTORS[id]);
/** Any other list: detectors that are not Candor's, or in another order. */
const NOT_SHIPPED = -1;
// Answers for frozen lists (as `detectorsFor` returns), which cannot change afterwards; a
// policy's list is asked about on every line, so the last answer is also kept at hand.
const shippedBits = new WeakMap<readonly Detector[], number>();
let lastList: readonly Detector[] | undefined;
let lastBits = NOT_SHIPPED;

function shippedDetectors(detectors: readonly Detector[]): number {
  if (detectors === lastList) return lastBits;
  const frozen = Object.isFrozen(detectors);
  let bits = frozen ? shippedBits.get(detectors) : undefined;
  if (bits === undefined) {
    bits = 0;
    let previous = -1;
    for (const detector of detectors) {
      const index = SHIPPED_ORDER.indexOf(detector);
      if (index <= previous) {
        bits = NOT_SHIPPED;
        break;
      }
      bits |= 1 << index;
      previous = index;
    }
    if (frozen) shippedBits.set(detectors, bits);
  }
  if (frozen) {
    lastList = detectors;
    lastBits = bits;
  }
  return bits;
}

const bitOf = (detector: Detector) => 1 << SHIPPED_ORDER.indexOf(detector);
const EMAIL = bitOf(email);
const PHONE = bitOf(phone);
const PAYMENT_CARD = bitOf(paymentCard);
const US_SSN = bitOf(usSsn);
const IBAN = bitOf(iban);
const IP_ADDRESS = bitOf(ipAddress);
const CREDENTIAL_URL = bitOf(credentialUrl);
const SECRET = bitOf(secret);
const PERSON_NAME = bitOf(personName);

/** What the shipped detectors in `shipped` find, in Candor's order; `undefined` when none may match. */
function findShipped(text: string, features: TextFeatures, shipped: number): Span[] | undefined {
  let found: Span[] | undefined;
  if ((shipped & EMAIL) !== 0 && email.mayMatch(features, text)) email.find(text, (found ??= []), features);
  if ((shipped & PHONE) !== 0 && phone.mayMatch(features, text)) phone.find(text, (found ??= []), features);
  if ((shipped & PAYMENT_CARD) !== 0 && paymentCard.mayMatch(features, text)) paymentCard.find(text, (found ??= []), features);
  if ((shipped & US_SSN) !== 0 && usSsn.mayMatch(features, text)) usSsn.find(text, (found ??= []), features);
  if ((shipped & IBAN) !== 0 && iban.mayMatch(features, text)) iban.find(text, (found ??= []), features);
  if ((shipped & IP_ADDRESS) !== 0 && ipAddress.mayMatch(features, text)) ipAddress.find(text, (found ??= []), features);
  if ((shipped & CREDENTIAL_URL) !== 0 && credentialUrl.mayMatch(features, text)) credentialUrl.find(text, (found ??= []), features);
  if ((shipped & SECRET) !== 0 && secret.mayMatch(features, text)) secret.find(text, (found ??= []), features);
  if ((shipped & PERSON_NAME) !== 0 && personName.mayMatch(features, text)) personName.find(text, (found ??= []), features);
  return found;
}

/** What `detectors` find, in their order; `undefined` when none may match. */
function findEach(text: string, features: TextFeatures, detectors: readonly Detector[]): Span[] | undefined {
  let found: Span[] | undefined;
  for (const detector of detectors) {
    if (!detector.mayMatch(features, text)) continue;
    found ??= [];
    detector.find(text, found, features);
  }
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
