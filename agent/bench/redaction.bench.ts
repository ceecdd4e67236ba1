/**
 * Redaction quality and speed on the labelled corpus (seeds/redaction-corpus/), Candor beside
 * two npm redactors run on the same lines in the same process:
 * - redact-pii's SyncRedactor with its built-in local patterns (its Google DLP mode needs the
 *   network and credentials, so it is not used);
 * - @openredaction/openredaction's OpenRedaction with its default patterns (local only).
 * Every tool is scored from its output alone (agent/src/redact/corpus.ts). Figures only: a
 * benchmark never passes or fails on them.
 *
 * Throughput: every tool gets the same warm-up (whole passes over the corpus for at least
 * WARM_UP_MS), then ROUNDS rounds in which each tool in turn gets BUDGET_MS / ROUNDS: other
 * work on the machine then slows every tool alike rather than whichever ran at that moment.
 * The median round is printed with the slowest and fastest, and the load average beside them.
 */
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { OpenRedaction } from '@openredaction/openredaction';
import { SyncRedactor } from 'redact-pii';
import { RedactionPolicy } from '@candor/shared/schemas/policy';
import { parseUnknown } from '@candor/shared/validation';
import strictPolicy from '../../seeds/policies/strict.v1.json' with { type: 'json' };
import { readCorpus, scoreCorpus, type CorpusScore } from '../src/redact/corpus.ts';
import { detectorsFor, findSpans, replaceSpans } from '../src/redact/detect.ts';
import { featuresOf } from '../src/redact/detectors/detector.ts';

const corpus = readCorpus(fileURLToPath(new URL('../../seeds/redaction-corpus/corpus.v1.jsonl', import.meta.url)));
const detectors = detectorsFor(parseUnknown(RedactionPolicy, strictPolicy).detectors);
const redactPii = new SyncRedactor();
const openRedaction = new OpenRedaction();

const tools: { name: string; redact: (text: string) => string }[] = [
  { name: 'candor', redact: (text) => replaceSpans(text, findSpans(text, detectors)) },
  { name: 'redact-pii', redact: (text) => redactPii.redact(text) },
  { name: 'openredaction', redact: (text) => openRedaction.detect(text).redacted },
];

const WARM_UP_MS = 500;
const BUDGET_MS = 3000;

const ROUNDS = 5;

function warmUp(redact: (text: string) => string): void {
  const start = performance.now();
  do {
    for (const line of corpus) redact(line.text);
  } while (performance.now() - start < WARM_UP_MS);
}

/** Lines per second: whole passes over the corpus until at least `budgetMs` has passed. */
function throughput(redact: (text: string) => string, budgetMs: number): { linesPerSecond: number; passes: number } {
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

/**
 * Issue 4's ≥ 99% target is for known key formats, the rest of the `secret` label is
 * contextual (a value after `password=`, a spoken password, a generated value with no
 * prefix). The corpus labels carry no sub-type, so the split is decided here from the
 * labelled text alone, never from what any tool found: a label is a known key format when
 * it begins with a prefix its vendor documents for its keys (the formats listed for
 * `secret` in docs/redaction.md), or is PEM private-key armour, or has the Azure AD client
 * secret shape (three characters, a digit, `Q~`).
 */
const KNOWN_KEY_PREFIXES = [
  ...['AKIA', 'ASIA', 'ABIA', 'ACCA', 'AGPA', 'AIDA', 'AROA', 'ANPA', 'ANVA', 'AIPA'], // AWS access key ids
  'AIza', 'ya29.', 'GOCSPX-', // Google API keys, OAuth tokens, OAuth client secrets
  'ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_', // GitHub
  ...['glpat-', 'gldt-', 'glrt-', 'glptt-', 'glft-', 'glimt-', 'glagent-', 'gloas-', 'glcbt-', 'GR1348941'], // GitLab
  ...['xoxa-', 'xoxb-', 'xoxp-', 'xoxo-', 'xoxs-', 'xoxr-', 'xoxe-', 'xapp-', 'https://hooks.slack.com/services/'], // Slack
  'sk-ant-', 'sk-', // Anthropic, OpenAI
  'sk_live_', 'sk_test_', 'rk_live_', 'rk_test_', // Stripe
  'npm_', 'pypi-', 'hf_', 'SG.', // npm, PyPI, Hugging Face, SendGrid
  'eyJ', // JWTs (base64url of '{"')
  'AccountKey=', 'SharedAccessKey=', // Azure connection strings
];
const PEM_PRIVATE_KEY = /^-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY/;
const AZURE_CLIENT_SECRET = /^[0-9A-Za-z_~.-]{3}\dQ~/;

function isKnownKeyFormat(labelled: string): boolean {
  return KNOWN_KEY_PREFIXES.some((prefix) => labelled.startsWith(prefix)) || PEM_PRIVATE_KEY.test(labelled) || AZURE_CLIENT_SECRET.test(labelled);
}

/** Recall on the `secret` labels of each kind, scored as corpus.ts scores any label. */
function secretRecallByKind(redact: (text: string) => string): { known: { labelled: number; found: number }; contextual: { labelled: number; found: number } } {
  const known = { labelled: 0, found: 0 };
  const contextual = { labelled: 0, found: 0 };
  for (const line of corpus) {
    const secrets = line.spans.filter((span) => span.type === 'secret');
    if (secrets.length === 0) continue;
    const output = redact(line.text);
    for (const span of secrets) {
      const labelled = line.text.slice(span.start, span.end);
      const kind = isKnownKeyFormat(labelled) ? known : contextual;
      kind.labelled += 1;
      if (!output.includes(labelled)) kind.found += 1;
    }
  }
  return { known, contextual };
}

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
  if (type === 'secret') {
    const byKind = new Map(tools.map((tool) => [tool.name, secretRecallByKind(tool.redact)]));
    for (const kind of ['known', 'contextual'] as const) {
      const count = byKind.get('candor')?.[kind].labelled ?? 0;
      qualityRows[`  of which ${kind === 'known' ? 'known key formats' : 'contextual'} (${count})`] = Object.fromEntries(
        tools.map((tool) => {
          const score = byKind.get(tool.name)?.[kind];
          return [tool.name, percent(score?.found ?? 0, score?.labelled ?? 0)];
        }),
      );
    }
  }
}
qualityRows[`recall overall (${candorScore?.labelled ?? 0})`] = Object.fromEntries(
  tools.map((tool) => [tool.name, percent(scores.get(tool.name)?.found ?? 0, scores.get(tool.name)?.labelled ?? 0)]),
);
qualityRows[`negatives changed (${negatives})`] = Object.fromEntries(
  tools.map((tool) => [tool.name, percent(scores.get(tool.name)?.negativesChanged ?? 0, negatives)]),
);
console.log('quality (recall: labelled spans whose text no longer appears in the output)');
console.table(qualityRows);

const loadBefore = loadavg();
for (const tool of tools) warmUp(tool.redact);
const rounds = new Map<string, { linesPerSecond: number; passes: number }[]>(tools.map((tool) => [tool.name, []]));
for (let round = 0; round < ROUNDS; round += 1) for (const tool of tools) rounds.get(tool.name)?.push(throughput(tool.redact, BUDGET_MS / ROUNDS));
const speeds = tools.map((tool) => {
  const measured = (rounds.get(tool.name) ?? []).map((result) => result.linesPerSecond).sort((a, b) => a - b);
  const passes = (rounds.get(tool.name) ?? []).reduce((sum, result) => sum + result.passes, 0);
  return { name: tool.name, linesPerSecond: measured[Math.floor(measured.length / 2)] ?? 0, slowest: measured[0] ?? 0, fastest: measured.at(-1) ?? 0, passes };
});
const loadAfter = loadavg();
const fastestPeer = Math.max(...speeds.filter((speed) => speed.name !== 'candor').map((speed) => speed.linesPerSecond));
const candorSpeed = speeds.find((speed) => speed.name === 'candor')?.linesPerSecond ?? 0;
const load = (averages: number[]) => averages.map((average) => average.toFixed(2)).join(' ');
console.log(`\nthroughput (one core, whole passes over the corpus; ${WARM_UP_MS} ms warm-up, then ${ROUNDS} rounds of ${BUDGET_MS / ROUNDS} ms each in turn)`);
console.log(`load average (1, 5, 15 min) before: ${load(loadBefore)}, after: ${load(loadAfter)} on ${availableParallelism()} cores`);
console.table(
  Object.fromEntries(
    speeds.map((speed) => [
      speed.name,
      {
        'lines/s (median round)': Math.round(speed.linesPerSecond).toLocaleString('en-US'),
        'slowest–fastest round': `${Math.round(speed.slowest).toLocaleString('en-US')}–${Math.round(speed.fastest).toLocaleString('en-US')}`,
        passes: speed.passes,
        'vs fastest peer': `${(speed.linesPerSecond / fastestPeer).toPrecision(2)}×`,
      },
    ]),
  ),
);
console.log(`\ncandor is ${(candorSpeed / fastestPeer).toFixed(1)}× the fastest peer`);

/**
 * Where Candor's time goes, for whoever makes it faster: the one scan every line gets, each
 * detector alone (with that scan), and all of them, in nanoseconds per corpus line, the median
 * of DETAIL_ROUNDS rounds of whole passes. Candor only; the peers are not part of it.
 */
const DETAIL_ROUNDS = 21;
const DETAIL_PASSES = 20;
let kept = 0;

function nanosecondsPerLine(work: (text: string) => number): number {
  for (let pass = 0; pass < DETAIL_PASSES * 5; pass += 1) for (const line of corpus) kept += work(line.text);
  const rounds: number[] = [];
  for (let round = 0; round < DETAIL_ROUNDS; round += 1) {
    const start = performance.now();
    for (let pass = 0; pass < DETAIL_PASSES; pass += 1) for (const line of corpus) kept += work(line.text);
    rounds.push(((performance.now() - start) * 1e6) / (DETAIL_PASSES * corpus.length));
  }
  rounds.sort((a, b) => a - b);
  return rounds[Math.floor(rounds.length / 2)] ?? 0;
}

const detailRows: Record<string, { 'ns/line': string }> = {};
const detail = (name: string, work: (text: string) => number) => {
  detailRows[name] = { 'ns/line': nanosecondsPerLine(work).toFixed(0) };
};
const loadBeforeDetail = loadavg();
detail('the shared scan (featuresOf)', (text) => featuresOf(text).longestRun);
for (const detector of detectors) {
  const alone = detectorsFor([detector.id]);
  detail(`scan + ${detector.id} alone`, (text) => findSpans(text, alone).length);
}
detail('scan + every detector (findSpans)', (text) => findSpans(text, detectors).length);
console.log(`\nwhere candor's time goes (median of ${DETAIL_ROUNDS} rounds of ${DETAIL_PASSES} passes; load before: ${load(loadBeforeDetail)}, after: ${load(loadavg())})`);
console.table(detailRows);
if (kept < 0) console.log(kept);
