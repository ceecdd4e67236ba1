import { collect, cueWords, type Detector, type Span, type TextFeatures } from './detector.ts';

// An address is found from its `@`: the local part is the whole run of `[\w.%+-]` before it
// (nothing of the kind may precede it), then DOMAIN, tried at the `@` only: at least one dot
// and an alphabetic top-level label. This finds what the one pattern
// /(?<![\w.%+-])[\w.%+-]+@DOMAIN/g finds, without trying it at every position of the text.
const DOMAIN = /@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])/y;
const LOCAL_CHARACTER = new Uint8Array(128);
for (let code = 0; code < 128; code += 1) LOCAL_CHARACTER[code] = /[\w.%+-]/.test(String.fromCharCode(code)) ? 1 : 0;
// SSH remotes (`git@github.com:org/repo`) name a service account, not a person.
const SERVICE_LOCAL_PARTS = new Set(['git']);
// `logo@2x.png` is an asset name: these extensions are not top-level domains.
const ASSET_EXTENSION = /\.(?:png|jpe?g|gif|svg|webp|ico|bmp|tiff?|avif)$/i;

// Addresses written to dodge scrapers: `jane [at] example [dot] com`, `bob(at)example.org`.
const AT = String.raw`(?:\s*(?:\[at\]|\(at\)|\{at\})\s*|\s+at\s+)`;
const DOT = String.raw`(?:\s*(?:\[dot\]|\(dot\)|\{dot\})\s*|\s+dot\s+|\.)`;
const OBFUSCATED_EMAIL = new RegExp(String.raw`(?<![\w.+-])[\w.+-]+${AT}[\w-]+(?:${DOT}[\w-]+)*${DOT}[A-Za-z]{2,24}\b`, 'gi');
// What every obfuscated address kept below contains: a bracketed at or dot, or a spoken dot.
// The features' cue bit for "dot" (any case) is a necessary condition of the spoken dot.
const DOT_WORD = cueWords(['dot']);
const mayBeSpelledOut = (features: TextFeatures) => features.brackets || (features.cues & DOT_WORD) !== 0;
const OBFUSCATION = /\[(?:at|dot)\]|\((?:at|dot)\)|\{(?:at|dot)\}|\sdot\s/i;

/**
 * Calls `visit` with the start, `@` and end of each match of
 * /(?<![\w.%+-])[\w.%+-]+@DOMAIN/g in `text`, in order: what that one pattern finds, found
 * from each `@` instead of trying it at every position. Exported for the equivalence test.
 */
export function eachAddress<T>(text: string, into: T, visit: (text: string, into: T, start: number, at: number, end: number) => void): void {
  // Where the last match ended: a local part reaching back before it cannot begin a match.
  let ended = 0;
  for (let at = text.indexOf('@'); at !== -1; at = text.indexOf('@', at + 1)) {
    let start = at;
    while (start > 0 && LOCAL_CHARACTER[text.charCodeAt(start - 1)] === 1) start -= 1;
    if (start === at || start < ended) continue;
    DOMAIN.lastIndex = at;
    if (!DOMAIN.test(text)) continue;
    ended = DOMAIN.lastIndex;
    visit(text, into, start, at, ended);
  }
}

function keepAddress(text: string, found: Span[], start: number, at: number, end: number): void {
  const local = text.slice(start, at);
  if (SERVICE_LOCAL_PARTS.has(local) || local.startsWith('.') || local.endsWith('.') || ASSET_EXTENSION.test(text.slice(at, end))) return;
  found.push({ detector: 'email', start, end });
}

export const email: Detector = {
  id: 'email',
  // Version 2: an address spelled out with a tab or a line break around "dot" is found too
  // (version 1 ruled it out before looking, wanting the spaces of " dot ").
  version: 2,
  describes: 'email addresses (name@domain.tld, and spelled out as name [at] domain [dot] tld), except the git@ of SSH remotes',
  mayMatch: (features, text) => features.at || (mayBeSpelledOut(features) && OBFUSCATION.test(text)),
  find(text, found, features) {
    // Plain " at " only counts with a spelled-out " dot ": `look at github.com` is prose.
    if (mayBeSpelledOut(features) && OBFUSCATION.test(text) && /at[\])}\s]/i.test(text)) collect('email', OBFUSCATED_EMAIL, text, found, (match) => /[[({]|\sdot\s/i.test(match[0]));
    eachAddress(text, found, keepAddress);
  },
};

// International: +CC then groups, optionally with a (0) or an area code in parentheses.
const INTERNATIONAL = /(?<![\w+])\+[1-9]\d{0,2}(?:[ .\-/]?\(?\d{1,5}\)?){1,6}(?![\w])/g;
// North American: (555) 123-4567, 555-123-4567, 555.123.4567.
const NORTH_AMERICAN = /(?<![\w-])(?:\(\d{3}\)\s?|\d{3}[-.])\d{3}[-.]\d{4}(?![\w-])/g;
// National trunk prefix 0 with grouped digits: 020 7946 0958, 06 12 34 56 78, 0171-1234567.
const NATIONAL = /(?<![\w.\-:/])0\d{1,4}(?:[ \-/]\d{2,8}){1,4}(?![\w.\-:/])/g;
// A bare run of digits is a phone number only when the words before it say so.
const PHONE_CUE = /\b(?:phone|tel|(?:my )?number is|nummer|numéro|telephone|mobile|cell|call(?: me)?(?: at| on)?|whatsapp|sms|text me(?: at| on)?|fax|ring me(?: on)?)\b[\s:.#-]{0,4}(\+?\d[\d ().-]{5,20}\d)/gi;

// Every word PHONE_CUE opens with, by its first three letters ("num" for number, nummer, numéro).
const PHONE_WORDS = cueWords(['phone', 'tel', 'num', 'mobile', 'cell', 'call', 'whatsapp', 'sms', 'text', 'fax', 'ring']);

function phoneDigitsPlausible(value: string, min = 8): boolean {
  let digits = 0;
  for (let index = 0; index < value.length; index += 1) {
    const code = value.charCodeAt(index);
    if (code >= 48 && code <= 57) digits += 1;
  }
  return digits >= min && digits <= 15;
}
const eightToFifteenDigits = (match: RegExpExecArray) => phoneDigitsPlausible(match[0]);
// Dates like 01-02-2024 have 8 digits; national numbers have at least 9.
const nineToFifteenDigits = (match: RegExpExecArray) => phoneDigitsPlausible(match[0], 9);

export const phone: Detector = {
  id: 'phone',
  version: 1,
  describes: 'phone numbers: international (+CC …), North American and national formats with a leading 0, and digit runs after words like "call me at"',
  // Eight digits is the shortest number any of the patterns accepts, all written in one run.
  mayMatch: (features) => features.digits >= 8 && features.numberRuns.phoneDigits >= 8,
  find(text, found, features) {
    // Each pattern only where the character or word it cannot do without is present.
    if (text.includes('+')) collect('phone', INTERNATIONAL, text, found, eightToFifteenDigits);
    // A North American number has ten digits, a national one at least nine, in one run.
    const { phoneDigits } = features.numberRuns;
    if (phoneDigits >= 10 && (text.includes('-') || text.includes('.'))) collect('phone', NORTH_AMERICAN, text, found, eightToFifteenDigits);
    if (phoneDigits >= 9 && text.includes('0')) collect('phone', NATIONAL, text, found, nineToFifteenDigits);
    if ((features.cues & PHONE_WORDS) !== 0) collect('phone', PHONE_CUE, text, found, (match) => phoneDigitsPlausible(match[1] ?? ''), 1);
  },
};
