import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { editedCorpusLines } from '../../../../tests/support/corpus-lines.ts';
import { DETECTORS } from '../detect.ts';
import { featuresOf, TextFeatures, type NumberRuns, type Span } from './detector.ts';

/** Features that rule nothing out: what a detector finds when no prefilter helps it. */
class NothingRuledOut extends TextFeatures {
  override get numberRuns(): NumberRuns {
    return { spacedDigits: 1000, phoneDigits: 1000, ibanCharacters: 1000 };
  }
}

function nothingRuledOut(text: string): TextFeatures {
  const features = new NothingRuledOut(text);
  Object.assign(features, { digits: 1000, capitals: 1000, capitalised: 1000, at: true, colons: 1000, dots: 1000, brackets: true, longestRun: 1000, cues: 0xffff });
  return features;
}

// Characters the prefilters count or stop at, in both cases and beyond ASCII.
const EDITS = ['@', ':', '.', '-', ' ', '+', '(', ')', '[', ']', '/', '_', '=', '~', ',', '!', '0', '7', 'A', 'k', 'Q', 'é', 'Ü', '\u00a0', '\t', '\n', '--', '-----', 'PASS', 'Key', ' with ', ' dot ', 'Tel: ', 'SSN ', 'call me at ', 'Dear ', 'Regards, ', ' hi ', 'Q~', 'password=', ' -p ', ' -u a:', 'Bearer ', '=='];
const texts = editedCorpusLines({ joints: ['', ' ', '\n', ', '], edits: EDITS, maxEdits: 4 });

function find(id: keyof typeof DETECTORS, text: string, features: TextFeatures): Span[] {
  const found: Span[] = [];
  DETECTORS[id].find(text, found, features);
  return found;
}

describe('detector prefilters', () => {
  it.each(Object.keys(DETECTORS) as (keyof typeof DETECTORS)[])('never rule out text in which %s finds something', (id) => {
    fc.assert(
      fc.property(texts, (text) => {
        const features = featuresOf(text);
        const unfiltered = find(id, text, nothingRuledOut(text));
        expect(find(id, text, features)).toEqual(unfiltered);
        if (unfiltered.length > 0) expect(DETECTORS[id].mayMatch(features, text)).toBe(true);
      }),
      { numRuns: 1500 },
    );
  });

  it('counts digits, capitals, colons and dots, and measures the longest key run, in text of any length', () => {
    const counted = fc.string({ unit: fc.constantFrom('7', 'A', 'z', 'é', ':', '.', '@', '(', ' ', '-', '=', '~', '!', '\n', '1234567890', 'ABCDEFGHIJ', '::::....'), maxLength: 200 });
    const count = (text: string, pattern: RegExp) => text.match(pattern)?.length ?? 0;
    fc.assert(
      fc.property(fc.oneof(texts, counted), (text) => {
        const features = featuresOf(text);
        const runs = text.match(/[A-Za-z0-9+/_\-=.~]+/g) ?? [];
        const { digits, capitals, colons, dots, at, brackets, longestRun } = features;
        expect({ digits, capitals, colons, dots, at, brackets, longestRun }).toEqual({
          digits: count(text, /\d/g),
          capitals: count(text, /[A-Z]|[^\0-\x7f]/g),
          colons: count(text, /:/g),
          dots: count(text, /\./g),
          at: text.includes('@'),
          brackets: /[([{]/.test(text),
          longestRun: Math.max(0, ...runs.map((run) => run.length)),
        });
      }),
      { numRuns: 2000 },
    );
  });

  it.each([31, 32, 33, 62, 63, 64, 300])('counts %i of one character without one count spilling into another', (length) => {
    for (const char of ['7', 'A', 'é', ':', '.']) {
      const features = featuresOf(char.repeat(length));
      const expected = { digits: char === '7' ? length : 0, capitals: char === 'A' || char === 'é' ? length : 0, colons: char === ':' ? length : 0, dots: char === '.' ? length : 0 };
      expect({ digits: features.digits, capitals: features.capitals, colons: features.colons, dots: features.dots }, char).toEqual(expected);
    }
  });

  it('finds cue words in any case and only where their first three letters are', () => {
    const secret = DETECTORS.secret;
    const cases: [text: string, mayMatch: boolean][] = [
      ['my PASSWORD is hunter22', true],
      ['Bearer abc', true],
      ['run mysql -u root', true],
      ['p a s s w o r d', false],
      ['nothing to see here', false],
    ];
    for (const [text, expected] of cases) expect(secret.mayMatch(featuresOf(text), text)).toBe(expected);
  });

  it('finds two-letter cue words only where a word starts, and accented words by their ASCII start', () => {
    const personName = DETECTORS['person-name'];
    const cases: [text: string, mayMatch: boolean][] = [
      ['Hi Anna, the build is green', true],
      ['hi Anna', true],
      ['Mr Smith', true],
      ['cc: Lena Vogel', true],
      ['Chère Marie, merci', true],
      ['-- Ada', true],
      ['this Ok', false],
      ['Bugfix Release', false],
      ['Xhi Anna', false],
      ['Atoms Glide', false],
      ['no capital after the cue: dear anna', false],
    ];
    for (const [text, expected] of cases) expect(personName.mayMatch(featuresOf(text), text), text).toBe(expected);
  });
});
