import { invariant } from '@candor/shared/errors';
import type { DetectorId } from '@candor/shared/schemas/policy';

/** Where a detector found something in a text: UTF-16 offsets, `end` exclusive. */
export type Span = { detector: DetectorId; start: number; end: number };

/**
 * Where digits sit in a text: for each kind of number, the most digits (or separators) found
 * in one unbroken run of the characters that kind of number is written with. A pattern's
 * match lies inside one such run, so these bound what a detector can find far more tightly
 * than a count over the whole line (a date and a time far apart are not a phone number).
 * Every detector asks for at least `SHORTEST_NUMBER` digits, so the digit counts are exact
 * from there up and any smaller count only means "fewer".
 */
export type NumberRuns = {
  /** Digits in a run of `0-9`, space and `-` (cards, SSNs). */
  spacedDigits: number;
  /** Digits in a run of `0-9`, whitespace and `+ ( ) . - /` (phone numbers). */
  phoneDigits: number;
  /** Characters other than space in a run of `A-Z`, `0-9` and space (IBANs). */
  ibanCharacters: number;
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
  /** The cue-word bits (see `cueWords`) whose words' first letters occur in the text. */
  cues = 0;
  readonly #text: string;
  #numberRuns: NumberRuns | undefined;

  constructor(text: string) {
    this.#text = text;
  }

  /** Measured on first use: only text with enough digits asks for it. */
  get numberRuns(): NumberRuns {
    this.#numberRuns ??= new RunsOfText(this.#text);
    return this.#numberRuns;
  }
}

// Character classes, as bits, so the scans below are one table lookup per character. Bits 0-5
// are the classes; bits 6-10 the letter (1-26, case folded) for cue words' trigrams.
const CAPITAL = 1;
const TOKEN_CHARACTER = 2;
const LOWERCASE = 4;
/** Whitespace, `:`, `,` or `-`: what may stand before a name (see names.ts). */
const BEFORE_NAME = 8;
const AT = 16;
/** `(`, `[` or `{`. */
const BRACKET = 32;
const LETTER_SHIFT = 6;
// Non-ASCII may be a capital, a lowercase letter or whitespace (names are not only ASCII).
const NON_ASCII = CAPITAL | LOWERCASE | BEFORE_NAME;
// What each character adds to the counts, five bits each: digits, capitals, colons, dots.
const DIGIT_COUNT = 1;
const CAPITAL_COUNT = 1 << 5;
const COLON_COUNT = 1 << 10;
const DOT_COUNT = 1 << 15;
// One entry per character holds both, the counts below the classes: adding whole entries up
// carries only upwards, so the counts stay exact and the classes' sums above them are dropped.
// With the counts in a table of their own, this scan took about a tenth longer.
const CLASSES_SHIFT = 20;
// One entry for every UTF-16 code unit, so that a lookup needs no test for ASCII first (which
// measured slower on every line than the 320 KiB these two tables take).
const UNITS = 1 << 16;
const CHARACTERS = new Int32Array(UNITS).fill((NON_ASCII << CLASSES_SHIFT) | CAPITAL_COUNT);
for (let code = 0; code < 128; code += 1) {
  const char = String.fromCharCode(code);
  const classes =
    (/[A-Z]/.test(char) ? CAPITAL : 0) |
    (/[A-Za-z0-9+/_\-=.~]/.test(char) ? TOKEN_CHARACTER : 0) |
    (/[a-z]/.test(char) ? LOWERCASE : 0) |
    (/[\s:,-]/.test(char) ? BEFORE_NAME : 0) |
    (char === '@' ? AT : 0) |
    (/[([{]/.test(char) ? BRACKET : 0) |
    (/[A-Za-z]/.test(char) ? (char.toLowerCase().charCodeAt(0) - 96) << LETTER_SHIFT : 0);
  const counts = (/\d/.test(char) ? DIGIT_COUNT : 0) | (/[A-Z]/.test(char) ? CAPITAL_COUNT : 0) | (char === ':' ? COLON_COUNT : 0) | (char === '.' ? DOT_COUNT : 0);
  CHARACTERS[code] = (classes << CLASSES_SHIFT) | counts;
}
// The five-bit counters above never carry into each other when flushed this often.
const COUNT_CHUNK = 31;
const COUNT_MASK = 31;
const classesOf = (code: number) => (CHARACTERS[code] ?? 0) >>> CLASSES_SHIFT;

// Cue words by their first three letters, ASCII case folded: a letter is 1-26 (five bits),
// anything else 0, so three letters index a table of 2^15 entries, one bit per family of
// words. A two-letter word is its letters after a non-letter: 0 and the two letters.
const CUE_FAMILIES = 16;
const TRIGRAM_CUES = new Uint16Array(1 << 15);
let nextCueBit = 1;

const letterOf = (code: number) => (classesOf(code) >> LETTER_SHIFT) & 31;

/**
 * Registers words a detector's patterns cannot match without (ASCII letters, matched
 * case-insensitively) and returns the bit `TextFeatures.cues` has when the text holds the
 * first three letters of one of them, or for a word of two letters, those two letters after
 * a non-letter or at the start (where a pattern's `\b` puts them): a necessary condition, so
 * a text without the bit cannot hold the words. Call it once per family, when a module loads.
 * @throws InvariantError when a word is shorter than two letters or not ASCII letters, or
 * when more than sixteen families are registered.
 */
export function cueWords(words: readonly string[]): number {
  invariant(nextCueBit < 1 << CUE_FAMILIES, 'at most sixteen families of cue words fit in TextFeatures.cues');
  const bit = nextCueBit;
  nextCueBit <<= 1;
  for (const word of words) {
    invariant(/^[A-Za-z]{2,}$/.test(word), 'a cue word is two or more ASCII letters');
    const letters = word.length === 2 ? [0, letterOf(word.charCodeAt(0)), letterOf(word.charCodeAt(1))] : [0, 1, 2].map((index) => letterOf(word.charCodeAt(index)));
    const trigram = ((letters[0] ?? 0) << 10) | ((letters[1] ?? 0) << 5) | (letters[2] ?? 0);
    TRIGRAM_CUES[trigram] = (TRIGRAM_CUES[trigram] ?? 0) | bit;
  }
  return bit;
}

export function featuresOf(text: string): TextFeatures {
  let digits = 0;
  let capitals = 0;
  let colons = 0;
  let dots = 0;
  let capitalised = 0;
  let seen = 0;
  let trigram = 0;
  let cues = 0;
  // The classes of the two characters before this one; a name never starts the text.
  let previous = 0;
  let beforePrevious = 0;
  let run = 0;
  let longestRun = 0;
  // Counts without branches: which way a branch on the next character goes is not
  // predictable, and every text pays for this loop. The four counts share one integer, five
  // bits each, added up over chunks short enough not to carry.
  for (let chunk = 0; chunk < text.length; chunk += COUNT_CHUNK) {
    const end = Math.min(text.length, chunk + COUNT_CHUNK);
    let counts = 0;
    for (let index = chunk; index < end; index += 1) {
      const entry = CHARACTERS[text.charCodeAt(index)] ?? 0;
      const classes = entry >>> CLASSES_SHIFT;
      counts = (counts + entry) | 0;
      seen |= classes;
      trigram = ((trigram << 5) | (classes >> LETTER_SHIFT)) & 0x7fff;
      cues |= TRIGRAM_CUES[trigram] ?? 0;
      capitalised += (classes >> 2) & previous & (beforePrevious >> 3) & 1;
      // A run's length is compared only where it ends (and where a chunk ends).
      if ((classes & TOKEN_CHARACTER) !== 0) run += 1;
      else {
        if (run > longestRun) longestRun = run;
        run = 0;
      }
      beforePrevious = previous;
      previous = classes;
    }
    if (run > longestRun) longestRun = run;
    digits += counts & COUNT_MASK;
    capitals += (counts >>> 5) & COUNT_MASK;
    colons += (counts >>> 10) & COUNT_MASK;
    dots += (counts >>> 15) & COUNT_MASK;
  }
  const features = new TextFeatures(text);
  features.digits = digits;
  features.capitals = capitals;
  features.capitalised = capitalised;
  features.at = (seen & AT) !== 0;
  features.colons = colons;
  features.dots = dots;
  features.brackets = (seen & BRACKET) !== 0;
  features.longestRun = longestRun;
  features.cues = cues;
  return features;
}

// What NumberRuns counts, as bits of one more table: which runs a character continues, and
// whether it is a digit (what the digit runs add up).
const SPACED = 1;
const PHONE = 2;
const IBAN = 4;
const IS_DIGIT = 8;
// Non-ASCII whitespace (a no-break space) matches the `\s` in phone patterns.
const NON_ASCII_RUN = PHONE;
const RUN_CLASSES = new Uint8Array(UNITS).fill(NON_ASCII_RUN);
for (let code = 0; code < 128; code += 1) {
  const char = String.fromCharCode(code);
  RUN_CLASSES[code] = (/[\d -]/.test(char) ? SPACED : 0) | (/[\d\s+().\-/]/.test(char) ? PHONE : 0) | (/[A-Z\d ]/.test(char) ? IBAN : 0) | (/\d/.test(char) ? IS_DIGIT : 0);
}
const runClassesOf = (code: number) => RUN_CLASSES[code] ?? 0;

/**
 * The runs of one text, each kind measured on first use, in two passes that each count only
 * what some detectors ask for: digit runs (phone numbers, cards, SSNs, `measureDigitRuns`) and
 * the IBAN run. The IBAN pass is without branches: `& -bit` keeps a count while the character
 * continues its run and zeroes it otherwise (most characters end every run, unpredictably).
 */
class RunsOfText implements NumberRuns {
  readonly #text: string;
  #spacedDigits = -1;
  #phoneDigits = -1;
  #ibanCharacters = -1;

  constructor(text: string) {
    this.#text = text;
  }

  get spacedDigits(): number {
    if (this.#spacedDigits === -1) this.#measureDigits();
    return this.#spacedDigits;
  }

  get phoneDigits(): number {
    if (this.#phoneDigits === -1) this.#measureDigits();
    return this.#phoneDigits;
  }

  get ibanCharacters(): number {
    if (this.#ibanCharacters === -1) {
      const text = this.#text;
      let run = 0;
      let most = 0;
      for (let index = 0; index < text.length; index += 1) {
        const code = text.charCodeAt(index);
        run = (run + (code === 32 ? 0 : 1)) & -((runClassesOf(code) >> 2) & 1);
        most = most > run ? most : run;
      }
      this.#ibanCharacters = most;
    }
    return this.#ibanCharacters;
  }

  #measureDigits(): void {
    const [spaced, phone] = measureDigitRuns(this.#text);
    this.#spacedDigits = spaced;
    this.#phoneDigits = phone;
  }
}

/** The fewest digits any number detector asks for in one run (a phone number's eight). */
export const SHORTEST_NUMBER = 8;

/**
 * The most digits in one run of phone-number characters, and in one run of card and SSN
 * characters (which are phone-number characters too), exact when `SHORTEST_NUMBER` or more.
 * A run holding that many digits is at least as long, so it covers one of any
 * `SHORTEST_NUMBER` positions in a row: only those are looked at until one is inside a run
 * of phone-number characters, which is then measured whole. Exported for the equivalence test.
 */
export function measureDigitRuns(text: string): [spacedDigits: number, phoneDigits: number] {
  const length = text.length;
  let mostSpaced = 0;
  let mostPhone = 0;
  for (let probe = SHORTEST_NUMBER - 1; probe < length; ) {
    if ((runClassesOf(text.charCodeAt(probe)) & PHONE) === 0) {
      probe += SHORTEST_NUMBER;
      continue;
    }
    let start = probe;
    while (start > 0 && (runClassesOf(text.charCodeAt(start - 1)) & PHONE) !== 0) start -= 1;
    // Along the run: its digits, and the digits of the card run at this point, zeroed
    // without a branch (`& -bit`) where a character ends it.
    let phone = 0;
    let spaced = 0;
    let end = start;
    for (; end < length; end += 1) {
      const classes = runClassesOf(text.charCodeAt(end));
      if ((classes & PHONE) === 0) break;
      const digit = (classes >> 3) & 1;
      phone += digit;
      spaced = (spaced + digit) & -(classes & SPACED);
      mostSpaced = mostSpaced > spaced ? mostSpaced : spaced;
    }
    mostPhone = mostPhone > phone ? mostPhone : phone;
    probe = end + SHORTEST_NUMBER;
  }
  return [mostSpaced, mostPhone];
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

const acceptAll = () => true;

/** Runs a global regex over `text` and records every match that `accept` keeps. */
export function collect(
  detector: DetectorId,
  pattern: RegExp,
  text: string,
  found: Span[],
  accept: (match: RegExpExecArray) => boolean = acceptAll,
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
// p·log2(p) for p = count / length, by length and count, each computed once with the same
// expression (so with the same bits) for the short values that are nearly all of what is judged.
const CACHED_LENGTH = 128;
const entropyTerms = new Float64Array((CACHED_LENGTH + 1) * (CACHED_LENGTH + 1)).fill(Number.NaN);

function entropyTerm(count: number, length: number): number {
  const index = length * (CACHED_LENGTH + 1) + count;
  let term = length <= CACHED_LENGTH ? (entropyTerms[index] ?? Number.NaN) : Number.NaN;
  if (Number.isNaN(term)) {
    const p = count / length;
    term = p * Math.log2(p);
    if (length <= CACHED_LENGTH) entropyTerms[index] = term;
  }
  return term;
}

/** Shannon entropy in bits per UTF-16 unit (the values it judges are ASCII keys and tokens). */
export function entropyOf(text: string): number {
  const length = Math.min(text.length, 65535);
  let bits = 0;
  for (let index = 0; index < length; index += 1) entropyCounts[text.charCodeAt(index)] = (entropyCounts[text.charCodeAt(index)] ?? 0) + 1;
  for (let index = 0; index < length; index += 1) {
    const code = text.charCodeAt(index);
    const count = entropyCounts[code] ?? 0;
    if (count === 0) continue;
    bits -= entropyTerm(count, length);
    entropyCounts[code] = 0;
  }
  return bits;
}
