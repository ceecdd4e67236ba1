/**
 * Lines like the redaction corpus's, for property tests of the detectors: a corpus line, or two
 * joined, cut anywhere and edited in a few places with strings the code under test turns on.
 */
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { readCorpus } from '../../agent/src/redact/corpus.ts';

const CORPUS = readCorpus(fileURLToPath(new URL('../../seeds/redaction-corpus/corpus.v1.jsonl', import.meta.url))).map((line) => line.text);

export function editedCorpusLines(options: { joints: string[]; edits: string[]; maxEdits: number }): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.constantFrom(...CORPUS),
      fc.constantFrom(...options.joints),
      fc.constantFrom(...CORPUS),
      fc.nat(),
      fc.array(fc.tuple(fc.nat(), fc.constantFrom(...options.edits)), { maxLength: options.maxEdits }),
    )
    .map(([first, joint, second, cut, edits]) => {
      let text = (first + joint + second).slice(cut % (first.length + 1));
      for (const [at, edit] of edits) {
        const index = at % (text.length + 1);
        text = text.slice(0, index) + edit + text.slice(index);
      }
      return text;
    });
}
