/**
 * Typed vocabulary: a finished stretch of rebuilt text becomes token counts, and nothing else.
 * Detectors see the whole stretch (a token's neighbourhood is what makes "my name is Ada" a
 * name); anything they flag is dropped with `neighbourhood` tokens on each side; the rest is
 * counted. The caller drops its last reference to the text right after.
 */
import type { DetectorId, RedactionPolicy } from '@candor/shared/schemas/policy';
import { findSpans, type Detector } from './detect.ts';

// Separators between tokens: whitespace, quotes, brackets and list punctuation. What is left
// keeps its inner punctuation, so `--force`, `console.log` and `&&` stay whole.
const TOKEN = /[^\s"'`(){}[\],;]+/g;
const NUMBER = /^[\d.,:_+-]+$/;
const VALID_TOKEN = /^[^\s\p{C}]+$/u;

export type VocabularyRules = RedactionPolicy['vocabulary'];

/** Counts the surviving tokens of `text` into `counts`, and what each detector removed into `redactions`. */
export function countVocabulary(
  text: string,
  rules: VocabularyRules,
  detectors: readonly Detector[],
  counts: Map<string, number>,
  redactions: Map<DetectorId, number>,
): void {
  const spans = findSpans(text, detectors);
  for (const span of spans) redactions.set(span.detector, (redactions.get(span.detector) ?? 0) + 1);
  const tokens: { start: number; end: number; value: string }[] = [];
  TOKEN.lastIndex = 0;
  for (let match = TOKEN.exec(text); match !== null; match = TOKEN.exec(text)) {
    tokens.push({ start: match.index, end: match.index + match[0].length, value: match[0] });
  }
  const dropped = new Uint8Array(tokens.length);
  if (spans.length > 0) {
    tokens.forEach((token, index) => {
      if (!spans.some((span) => span.start < token.end && token.start < span.end)) return;
      const from = Math.max(0, index - rules.neighbourhood);
      const to = Math.min(tokens.length - 1, index + rules.neighbourhood);
      dropped.fill(1, from, to + 1);
    });
  }
  tokens.forEach((token, index) => {
    const value = token.value;
    if (dropped[index] === 1) return;
    if (value.length < rules.minTokenLength || value.length > rules.maxTokenLength) return;
    if (rules.dropNumbers && NUMBER.test(value)) return;
    if (!VALID_TOKEN.test(value)) return;
    // A record key of `__proto__` sets the prototype instead of a count when a record is
    // parsed (zod does this): it could never arrive, so it is not counted.
    if (value === '__proto__') return;
    counts.set(value, (counts.get(value) ?? 0) + 1);
  });
}

/** Whether a line of typed text runs a command that may be followed by a password prompt. */
export function startsPrompt(text: string, promptCommands: readonly string[]): boolean {
  const words = text
    .toLowerCase()
    .split(/[\s;&|()]+/)
    .map((word) => word.slice(word.lastIndexOf('/') + 1))
    .filter((word) => word !== '');
  if (words.length === 0) return false;
  const line = ` ${words.join(' ')} `;
  return promptCommands.some((command) => line.includes(` ${command} `));
}
