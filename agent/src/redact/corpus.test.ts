import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { RedactionPolicy } from '@candor/shared/schemas/policy';
import { parseUnknown } from '@candor/shared/validation';
import strictPolicy from '../../../seeds/policies/strict.v1.json' with { type: 'json' };
import { detectorsFor, findSpans, replaceSpans } from './detect.ts';
import { readCorpus, scoreCorpus } from './corpus.ts';

const CORPUS = fileURLToPath(new URL('../../../seeds/redaction-corpus/corpus.v1.jsonl', import.meta.url));
const detectors = detectorsFor(parseUnknown(RedactionPolicy, strictPolicy).detectors);
const redact = (text: string) => replaceSpans(text, findSpans(text, detectors));

describe('the redaction corpus', () => {
  const lines = readCorpus(CORPUS);

  it('has a few hundred schema-valid lines from every context, at least 40% of them hard negatives', () => {
    expect(lines.length).toBeGreaterThanOrEqual(300);
    expect(new Set(lines.map((line) => line.context)).size).toBe(5);
    expect(lines.filter((line) => line.spans.length === 0).length / lines.length).toBeGreaterThanOrEqual(0.4);
  });

  it('labels every detector type', () => {
    expect(scoreCorpus(lines, (text) => text).byType.map((score) => score.type).sort()).toEqual(
      ['credential-url', 'email', 'iban', 'ip-address', 'payment-card', 'person-name', 'phone', 'secret', 'us-ssn'],
    );
  });

  it('is redacted by the strict policy with at least 95% recall and at most 1% of negatives changed', () => {
    const score = scoreCorpus(lines, redact);
    expect(score.found / score.labelled).toBeGreaterThanOrEqual(0.95);
    expect(score.negativesChanged / score.negatives).toBeLessThanOrEqual(0.01);
  });

  it('scores a redactor that does nothing as finding nothing and changing nothing', () => {
    const score = scoreCorpus(lines, (text) => text);
    expect(score.found).toBe(0);
    expect(score.negativesChanged).toBe(0);
  });
});
