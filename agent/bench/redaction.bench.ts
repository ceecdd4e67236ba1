/**
 * Redaction quality and speed on the labelled corpus (seeds/redaction-corpus/), Candor beside
 * two npm redactors run on the same lines in the same process:
 * - redact-pii's SyncRedactor with its built-in local patterns (its Google DLP mode needs the
 *   network and credentials, so it is not used);
 * - @openredaction/openredaction's OpenRedaction with its default patterns (local only).
 * Every tool is scored from its output alone (agent/src/redact/corpus.ts). Figures only: a
 * benchmark never passes or fails on them.
 */
import { fileURLToPath } from 'node:url';
import { OpenRedaction } from '@openredaction/openredaction';
import { SyncRedactor } from 'redact-pii';
import { RedactionPolicy } from '@candor/shared/schemas/policy';
import { parseUnknown } from '@candor/shared/validation';
import strictPolicy from '../../seeds/policies/strict.v1.json' with { type: 'json' };
import { readCorpus, scoreCorpus, type CorpusScore } from '../src/redact/corpus.ts';
import { detectorsFor, findSpans, replaceSpans } from '../src/redact/detect.ts';

const corpus = readCorpus(fileURLToPath(new URL('../../seeds/redaction-corpus/corpus.v1.jsonl', import.meta.url)));
const detectors = detectorsFor(parseUnknown(RedactionPolicy, strictPolicy).detectors);
const redactPii = new SyncRedactor();
const openRedaction = new OpenRedaction();

const tools: { name: string; redact: (text: string) => string }[] = [
  { name: 'candor', redact: (text) => replaceSpans(text, findSpans(text, detectors)) },
  { name: 'redact-pii', redact: (text) => redactPii.redact(text) },
  { name: 'openredaction', redact: (text) => openRedaction.detect(text).redacted },
];

/** Lines per second: whole passes over the corpus until at least `budgetMs` has passed. */
function throughput(redact: (text: string) => string, budgetMs: number): { linesPerSecond: number; passes: number } {
  for (const line of corpus) redact(line.text); // warm-up
  globalThis.gc?.();
  let passes = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < budgetMs || passes < 1) {
    for (const line of corpus) redact(line.text);
    passes += 1;
    elapsed = performance.now() - start;
  }
  return { linesPerSecond: (passes * corpus.length) / (elapsed / 1000), passes };
}

const percent = (part: number, whole: number) => (whole === 0 ? '—' : `${((100 * part) / whole).toFixed(1)}%`);

const scores = new Map<string, CorpusScore>(tools.map((tool) => [tool.name, scoreCorpus(corpus, tool.redact)]));
const negatives = corpus.filter((line) => line.spans.length === 0).length;
console.log(`corpus: ${corpus.length} lines, ${corpus.length - negatives} with labels, ${negatives} hard negatives (${percent(negatives, corpus.length)})\n`);

const candorScore = scores.get('candor');
const types = candorScore?.byType.map((score) => score.type) ?? [];
const qualityRows: Record<string, Record<string, string>> = {};
for (const type of types) {
  const labelled = candorScore?.byType.find((score) => score.type === type)?.labelled ?? 0;
  qualityRows[`recall ${type} (${labelled})`] = Object.fromEntries(
    tools.map((tool) => {
      const score = scores.get(tool.name)?.byType.find((entry) => entry.type === type);
      return [tool.name, percent(score?.found ?? 0, score?.labelled ?? 0)];
    }),
  );
}
qualityRows[`recall overall (${candorScore?.labelled ?? 0})`] = Object.fromEntries(
  tools.map((tool) => [tool.name, percent(scores.get(tool.name)?.found ?? 0, scores.get(tool.name)?.labelled ?? 0)]),
);
qualityRows[`negatives changed (${negatives})`] = Object.fromEntries(
  tools.map((tool) => [tool.name, percent(scores.get(tool.name)?.negativesChanged ?? 0, negatives)]),
);
console.log('quality (recall: labelled spans whose text no longer appears in the output)');
console.table(qualityRows);

const speeds = tools.map((tool) => ({ name: tool.name, ...throughput(tool.redact, tool.name === 'candor' ? 2000 : 3000) }));
const fastestPeer = Math.max(...speeds.filter((speed) => speed.name !== 'candor').map((speed) => speed.linesPerSecond));
const candorSpeed = speeds.find((speed) => speed.name === 'candor')?.linesPerSecond ?? 0;
console.log('\nthroughput (one core, whole passes over the corpus)');
console.table(
  Object.fromEntries(
    speeds.map((speed) => [speed.name, { 'lines/s': Math.round(speed.linesPerSecond).toLocaleString('en-US'), passes: speed.passes, 'vs fastest peer': `${(speed.linesPerSecond / fastestPeer).toFixed(1)}×` }]),
  ),
);
console.log(`\ncandor is ${(candorSpeed / fastestPeer).toFixed(1)}× the fastest peer`);
