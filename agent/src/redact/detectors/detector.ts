import type { DetectorId } from '@candor/shared/schemas/policy';

/** Where a detector found something in a text: UTF-16 offsets, `end` exclusive. */
export type Span = { detector: DetectorId; start: number; end: number };

/**
 * A text detector. `find` appends what it finds to `found` (one shared array per text, so a
 * line that holds nothing allocates nothing); it must not keep the text. Bump `version`
 * whenever what it finds changes: manifests carry it so the aggregator can tell.
 */
export type Detector = {
  id: DetectorId;
  version: number;
  /** Plain-language description for `candor explain-policy`. */
  describes: string;
  find(text: string, found: Span[]): void;
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

/** Shannon entropy in bits per character. */
export function entropyOf(text: string): number {
  const counts = new Map<string, number>();
  for (const char of text) counts.set(char, (counts.get(char) ?? 0) + 1);
  let bits = 0;
  for (const count of counts.values()) {
    const p = count / text.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}
