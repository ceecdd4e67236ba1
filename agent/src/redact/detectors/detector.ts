import type { DetectorId } from '@candor/shared/schemas/policy';

/** Where a detector found something in a text: UTF-16 offsets, `end` exclusive. */
export type Span = { detector: DetectorId; start: number; end: number };

/**
 * Where digits sit in a text: for each kind of number, the most digits (or separators) found
 * in one unbroken run of the characters that kind of number is written with. A pattern's
 * match lies inside one such run, so these bound what a detector can find far more tightly
 * than a count over the whole line (a date and a time far apart are not a phone number).
 */
export type NumberRuns = {
  /** Digits in a run of `0-9`, space and `-` (cards, SSNs). */
  spacedDigits: number;
  /** Digits in a run of `0-9`, whitespace and `+ ( ) . - /` (phone numbers). */
  phoneDigits: number;
  /** Characters other than space in a run of `A-Z`, `0-9` and space (IBANs). */
  ibanCharacters: number;
  /** Dots in a run of `0-9` and `.` (IPv4). */
  dottedDots: number;
  /** Colons in a run of hex digits, `:` and `.` (IPv6). */
  hexColons: number;
};

/**
 * What one pass over a text's characters tells about it. Detectors use it as a cheap
 * necessary condition, so most text is ruled out without running a single pattern.
 */
export class TextFeatures {
  digits = 0;
  /** ASCII capitals, plus every non-ASCII character (which may be a capital). */
  capitals = 0;
  /**
   * Capitals followed by a lowercase letter (or any non-ASCII character) and preceded by
   * whitespace, `:`, `,`, `-` or a non-ASCII character: where a name can start after a cue.
   */
  capitalised = 0;
  at = false;
  colons = 0;
  dots = 0;
  /** Opening brackets of any kind. */
  brackets = false;
  /** The longest run of characters that keys and tokens are made of: A-Z a-z 0-9 + / _ - = . ~ */
  longestRun = 0;
  readonly #text: string;
  #numberRuns: NumberRuns | undefined;

  constructor(text: string) {
    this.#text = text;
  }

  /** Computed on first use: only text with enough digits, dots or colons asks for it. */
  get numberRuns(): NumberRuns {
    this.#numberRuns ??= numberRunsOf(this.#text);
    return this.#numberRuns;
  }
}

// Character classes of ASCII, as bits, so the scans below are one table lookup per character.
const DIGIT = 1;
const CAPITAL = 2;
const TOKEN_CHARACTER = 4;
const LOWERCASE = 8;
/** Whitespace, `:`, `,` or `-`: what may stand before a name (see names.ts). */
const BEFORE_NAME = 16;
/** `@`, `:`, `.` or an opening bracket: counted below. */
const PUNCTUATION = 32;
// Non-ASCII may be a capital, a lowercase letter or whitespace (names are not only ASCII).
const NON_ASCII = CAPITAL | LOWERCASE | BEFORE_NAME;
const ASCII_CLASSES = new Uint8Array(128);
for (let code = 0; code < 128; code += 1) {
  const char = String.fromCharCode(code);
  ASCII_CLASSES[code] =
    (/\d/.test(char) ? DIGIT : 0) |
    (/[A-Z]/.test(char) ? CAPITAL : 0) |
    (/[A-Za-z0-9+/_\-=.~]/.test(char) ? TOKEN_CHARACTER : 0) |
    (/[a-z]/.test(char) ? LOWERCASE : 0) |
    (/[\s:,-]/.test(char) ? BEFORE_NAME : 0) |
    (/[@:.([{]/.test(char) ? PUNCTUATION : 0);
}

export function featuresOf(text: string): TextFeatures {
  const features = new TextFeatures(text);
  let digits = 0;
  let capitals = 0;
  let capitalised = 0;
  // The classes of the two characters before this one; a name never starts the text.
  let previous = 0;
  let beforePrevious = 0;
  let run = 0;
  let longestRun = 0;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    const classes = code < 128 ? (ASCII_CLASSES[code] ?? 0) : NON_ASCII;
    digits += classes & DIGIT;
    if ((classes & CAPITAL) !== 0) capitals += 1;
    if ((classes & LOWERCASE) !== 0 && (previous & CAPITAL) !== 0 && (beforePrevious & BEFORE_NAME) !== 0) capitalised += 1;
    beforePrevious = previous;
    previous = classes;
    if ((classes & TOKEN_CHARACTER) !== 0) {
      run += 1;
      if (code === 46) features.dots += 1;
      continue;
    }
    if (run > longestRun) longestRun = run;
    run = 0;
    if ((classes & PUNCTUATION) !== 0) {
      if (code === 64) features.at = true;
      else if (code === 58) features.colons += 1;
      else features.brackets = true;
    }
  }
  features.digits = digits;
  features.capitals = capitals;
  features.capitalised = capitalised;
  features.longestRun = run > longestRun ? run : longestRun;
  return features;
}

// The runs NumberRuns measures, as bits of one more table.
const SPACED = 1;
const PHONE = 2;
const IBAN = 4;
const DOTTED = 8;
const HEX = 16;
const RUN_CLASSES = new Uint8Array(128);
for (let code = 0; code < 128; code += 1) {
  const char = String.fromCharCode(code);
  RUN_CLASSES[code] =
    (/[\d -]/.test(char) ? SPACED : 0) |
    (/[\d\s+().\-/]/.test(char) ? PHONE : 0) |
    (/[A-Z\d ]/.test(char) ? IBAN : 0) |
    (/[\d.]/.test(char) ? DOTTED : 0) |
    (/[\dA-Fa-f:.]/.test(char) ? HEX : 0);
}
// Non-ASCII whitespace (a no-break space) matches the `\s` in phone patterns.
const NON_ASCII_RUN = PHONE;

function numberRunsOf(text: string): NumberRuns {
  const most: NumberRuns = { spacedDigits: 0, phoneDigits: 0, ibanCharacters: 0, dottedDots: 0, hexColons: 0 };
  let spacedDigits = 0;
  let phoneDigits = 0;
  let ibanCharacters = 0;
  let dottedDots = 0;
  let hexColons = 0;
  for (let index = 0; index <= text.length; index += 1) {
    // One step past the end closes every open run.
    const code = index < text.length ? text.charCodeAt(index) : 0;
    const classes = code < 128 ? (RUN_CLASSES[code] ?? 0) : NON_ASCII_RUN;
    const digit = code >= 48 && code <= 57 ? 1 : 0;
    if ((classes & SPACED) !== 0) spacedDigits += digit;
    else {
      if (spacedDigits > most.spacedDigits) most.spacedDigits = spacedDigits;
      spacedDigits = 0;
    }
    if ((classes & PHONE) !== 0) phoneDigits += digit;
    else {
      if (phoneDigits > most.phoneDigits) most.phoneDigits = phoneDigits;
      phoneDigits = 0;
    }
    if ((classes & IBAN) !== 0) {
      if (code !== 32) ibanCharacters += 1;
    } else {
      if (ibanCharacters > most.ibanCharacters) most.ibanCharacters = ibanCharacters;
      ibanCharacters = 0;
    }
    if ((classes & DOTTED) !== 0) {
      if (code === 46) dottedDots += 1;
    } else {
      if (dottedDots > most.dottedDots) most.dottedDots = dottedDots;
      dottedDots = 0;
    }
    if ((classes & HEX) !== 0) {
      if (code === 58) hexColons += 1;
    } else {
      if (hexColons > most.hexColons) most.hexColons = hexColons;
      hexColons = 0;
    }
  }
  return most;
}

/**
 * A text detector. `find` appends what it finds to `found` (one shared array per text, so a
 * line that holds nothing allocates nothing); it must not keep the text. `mayMatch` is a
 * necessary condition on the text's features: when it is false, `find` would find nothing.
 * Bump `version` whenever what it finds changes: manifests carry it so the aggregator can tell.
 */
export type Detector = {
  id: DetectorId;
  version: number;
  /** Plain-language description for `candor explain-policy`. */
  describes: string;
  mayMatch(features: TextFeatures, text: string): boolean;
  find(text: string, found: Span[], features: TextFeatures): void;
};

/** Runs a global regex over `text` and records every match that `accept` keeps. */
export function collect(
  detector: DetectorId,
  pattern: RegExp,
  text: string,
  found: Span[],
  accept: (match: RegExpExecArray) => boolean = () => true,
  group = 0,
): void {
  pattern.lastIndex = 0;
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
    const value = match[group];
    if (value !== undefined && value.length > 0 && accept(match)) {
      const start = match.index + (group === 0 ? 0 : match[0].indexOf(value));
      found.push({ detector, start, end: start + value.length });
    }
    if (match[0].length === 0) pattern.lastIndex += 1;
  }
}

/** Digits of a string, separators dropped. */
export function digitsOf(text: string): string {
  return text.replace(/\D/g, '');
}

const entropyCounts = new Uint16Array(65536);

/** Shannon entropy in bits per UTF-16 unit (the values it judges are ASCII keys and tokens). */
export function entropyOf(text: string): number {
  const length = Math.min(text.length, 65535);
  let bits = 0;
  for (let index = 0; index < length; index += 1) entropyCounts[text.charCodeAt(index)] = (entropyCounts[text.charCodeAt(index)] ?? 0) + 1;
  for (let index = 0; index < length; index += 1) {
    const code = text.charCodeAt(index);
    const count = entropyCounts[code] ?? 0;
    if (count === 0) continue;
    const p = count / length;
    bits -= p * Math.log2(p);
    entropyCounts[code] = 0;
  }
  return bits;
}
