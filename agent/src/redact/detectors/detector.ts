import type { DetectorId } from '@candor/shared/schemas/policy';

/** Where a detector found something in a text: UTF-16 offsets, `end` exclusive. */
export type Span = { detector: DetectorId; start: number; end: number };

/**
 * What one pass over a text's characters tells about it. Detectors use it as a cheap
 * necessary condition, so most text is ruled out without running a single pattern.
 */
export type TextFeatures = {
  digits: number;
  /** ASCII capitals, plus every non-ASCII character (which may be a capital). */
  capitals: number;
  /** Capitals followed by a lowercase letter (or any non-ASCII character): where a name can start. */
  capitalised: number;
  at: boolean;
  colons: number;
  dots: number;
  /** Opening brackets of any kind. */
  brackets: boolean;
  /** Five or more dashes in a row (a PEM armour line). */
  dashes: boolean;
  /** The longest run of characters that keys and tokens are made of: A-Z a-z 0-9 + / _ - = . ~ */
  longestRun: number;
};

// Character classes of ASCII, as bits, so the scan below is one table lookup per character.
const DIGIT = 1;
const CAPITAL = 2;
const TOKEN_CHARACTER = 4;
const LOWERCASE = 8;
const ASCII_CLASSES = new Uint8Array(128);
for (let code = 0; code < 128; code += 1) {
  const char = String.fromCharCode(code);
  ASCII_CLASSES[code] = (/\d/.test(char) ? DIGIT : 0) | (/[A-Z]/.test(char) ? CAPITAL : 0) | (/[A-Za-z0-9+/_\-=.~]/.test(char) ? TOKEN_CHARACTER : 0) | (/[a-z]/.test(char) ? LOWERCASE : 0);
}

export function featuresOf(text: string): TextFeatures {
  let digits = 0;
  let capitals = 0;
  let capitalised = 0;
  let previousCapital = false;
  let at = false;
  let colons = 0;
  let dots = 0;
  let brackets = false;
  let dashRun = 0;
  let dashes = false;
  let run = 0;
  let longestRun = 0;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    // Non-ASCII counts as both a capital and a lowercase letter: names are not only ASCII.
    const classes = code < 128 ? (ASCII_CLASSES[code] ?? 0) : CAPITAL | LOWERCASE;
    if ((classes & DIGIT) !== 0) digits += 1;
    if (previousCapital && (classes & LOWERCASE) !== 0) capitalised += 1;
    previousCapital = (classes & CAPITAL) !== 0;
    if (previousCapital) capitals += 1;
    if ((classes & TOKEN_CHARACTER) === 0) {
      if (run > longestRun) longestRun = run;
      run = 0;
      if (code === 64) at = true;
      else if (code === 58) colons += 1;
      else if (code === 40 || code === 91 || code === 123) brackets = true;
      dashRun = 0;
      continue;
    }
    run += 1;
    if (code === 46) dots += 1;
    if (code === 45) {
      dashRun += 1;
      if (dashRun >= 5) dashes = true;
    } else {
      dashRun = 0;
    }
  }
  if (run > longestRun) longestRun = run;
  return { digits, capitals, capitalised, at, colons, dots, brackets, dashes, longestRun };
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
