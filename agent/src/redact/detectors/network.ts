import { collect, type Detector, type TextFeatures } from './detector.ts';

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
// Not part of a longer dotted number (a version like 1.2.3.4.5) or a `v1.2.3.4` tag.
const IPV4 = new RegExp(`(?<![\\w.])${OCTET}(?:\\.${OCTET}){3}(?!\\.?\\d|\\.[\\w])`, 'g');
const IPV6_CANDIDATE = /(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])/g;
// Loopback and "any" name no one; they are in every config file and tutorial.
const NOT_IDENTIFYING = new Set(['127.0.0.1', '0.0.0.0', '255.255.255.255', '::1', '::']);

function ipv6Valid(candidate: string): boolean {
  // Without `::` all eight groups are spelled (seven colons, six before an embedded IPv4, as
  // the check below counts): times like 12:30:45 stop here, before anything is split.
  if (!candidate.includes('::')) {
    let colons = 0;
    for (let index = 0; index < candidate.length; index += 1) if (candidate.charCodeAt(index) === 58) colons += 1;
    if (colons !== 7 && colons !== 6) return false;
  }
  const halves = candidate.split('::');
  if (halves.length > 2) return false;
  const groups = halves.flatMap((half) => (half === '' ? [] : half.split(':')));
  const last = groups.at(-1) ?? '';
  const embeddedV4 = last.includes('.');
  const width = groups.length + (embeddedV4 ? 1 : 0);
  if (!groups.every((group, index) => /^[0-9A-Fa-f]{1,4}$/.test(group) || (embeddedV4 && index === groups.length - 1))) return false;
  // Without `::` it must spell all eight groups: `12:30:45` is a time, not an address.
  if (halves.length === 1) return width === 8;
  // `x[1::2]` is a slice: a compressed address has a group of three or more digits.
  return width <= 7 && (embeddedV4 || groups.some((group) => group.length >= 3));
}

// What each address cannot be written without, looked for by a native scan: three dots with
// only digits between them (IPv4), two colons with only hex digits and dots between (IPv6).
const THREE_DOTS = /\.\d*\.\d*\./;
const TWO_COLONS = /:[\dA-Fa-f.]*:/;
const mayHoldIpv4 = (features: TextFeatures, text: string) => features.dots >= 3 && features.digits >= 4 && THREE_DOTS.test(text);
const mayHoldIpv6 = (features: TextFeatures, text: string) => features.colons >= 2 && TWO_COLONS.test(text);

export const ipAddress: Detector = {
  id: 'ip-address',
  version: 1,
  describes: 'IPv4 and IPv6 addresses, except loopback and the unspecified address',
  mayMatch: (features, text) => mayHoldIpv4(features, text) || mayHoldIpv6(features, text),
  find(text, found, features) {
    if (features.dots >= 3 && features.digits >= 4) collect('ip-address', IPV4, text, found, (match) => !NOT_IDENTIFYING.has(match[0]));
    if (features.colons >= 2) {
      collect('ip-address', IPV6_CANDIDATE, text, found, (match) => !NOT_IDENTIFYING.has(match[0]) && ipv6Valid(match[0]));
    }
  },
};

const URL = /\b[a-z][a-z0-9+.-]{1,15}:\/\/[^\s"'<>`]+/gi;
const USERINFO_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/?#@\s:]*:[^/?#@\s]+@/i;
// Query or fragment parameters that carry a credential: API keys, OAuth and session tokens,
// signed-URL signatures (S3, Azure SAS, GCS), reset and magic-link codes.
const CREDENTIAL_PARAM =
  /[?&#;](?:access_?token|refresh_?token|id_?token|token|auth|authorization|api_?key|apikey|key|secret|client_secret|password|passwd|pwd|pass|session|sessionid|sid|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|code|otp|reset|magic)=[^&#\s]{6,}/i;

export const credentialUrl: Detector = {
  id: 'credential-url',
  version: 1,
  describes: 'URLs carrying credentials: a password before the host, or a token, key, signature or session parameter',
  mayMatch: (features, text) => features.colons >= 1 && text.includes('://'),
  find(text, found, features) {
    // A password before the host needs an `@`, a credential parameter an `=`.
    if (!features.at && !text.includes('=')) return;
    collect('credential-url', URL, text, found, (match) => USERINFO_WITH_PASSWORD.test(match[0]) || CREDENTIAL_PARAM.test(match[0]));
  },
};
