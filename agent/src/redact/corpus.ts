/**
 * The labelled redaction corpus and how a redactor is scored on it. Every tool is scored the
 * same way, from its output alone: a labelled span counts as found when its text no longer
 * appears in the redacted line; a negative line counts as changed when the output differs.
 */
import { readFileSync } from 'node:fs';
import { CorpusLine, DETECTOR_IDS, type DetectorId } from '@candor/shared/schemas/policy';
import { parseUnknown } from '@candor/shared/validation';
import { CandorError } from '@candor/shared/errors';

/**
 * Reads a JSONL corpus file.
 * @throws CandorError `corpus.unreadable` when the file cannot be read or a line is not JSON;
 * ValidationError when a line does not match CorpusLine (its line number is in the message).
 */
export function readCorpus(path: string): CorpusLine[] {
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new CandorError('corpus.unreadable', `cannot read the corpus file ${path}`, { cause });
  }
  return content
    .split('\n')
    .map((line, index) => ({ line, number: index + 1 }))
    .filter(({ line }) => line.trim() !== '')
    .map(({ line, number }) => {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw new CandorError('corpus.unreadable', `corpus line ${number} is not JSON`);
      }
      return parseUnknown(CorpusLine, value, `corpus line ${number}`);
    });
}

export type TypeScore = { type: DetectorId; labelled: number; found: number };
export type CorpusScore = {
  byType: TypeScore[];
  labelled: number;
  found: number;
  negatives: number;
  negativesChanged: number;
};

/** Scores a redactor (text in, redacted text out) on a corpus. */
export function scoreCorpus(lines: readonly CorpusLine[], redact: (text: string) => string): CorpusScore {
  const byType = new Map<DetectorId, TypeScore>(DETECTOR_IDS.map((type) => [type, { type, labelled: 0, found: 0 }]));
  let negatives = 0;
  let negativesChanged = 0;
  for (const line of lines) {
    const output = redact(line.text);
    if (line.spans.length === 0) {
      negatives += 1;
      if (output !== line.text) negativesChanged += 1;
      continue;
    }
    for (const span of line.spans) {
      const score = byType.get(span.type);
      if (score === undefined) continue;
      score.labelled += 1;
      if (!output.includes(line.text.slice(span.start, span.end))) score.found += 1;
    }
  }
  const scores = [...byType.values()].filter((score) => score.labelled > 0);
  return {
    byType: scores,
    labelled: scores.reduce((sum, score) => sum + score.labelled, 0),
    found: scores.reduce((sum, score) => sum + score.found, 0),
    negatives,
    negativesChanged,
  };
}
