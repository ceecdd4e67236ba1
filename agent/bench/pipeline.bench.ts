/**
 * Pipeline throughput on one core: input events per second through the context filter
 * (agent/src/context/filter.ts, as the daemon runs it before handing a batch over), redaction
 * (key classes, shortcuts, text rebuilt in a vocabulary app and run through every detector)
 * and aggregation into windows, closing windows as time passes. Events are generated in
 * memory before the clock starts: typing replays the corpus's terminal and editor lines as
 * key events 80 ms apart; the pointer moves at 1 kHz with clicks and scrolls. Figures only.
 */
import { fileURLToPath } from 'node:url';
import { RedactionPolicy } from '@candor/shared/schemas/policy';
import { StudyVersion, type StudyVersionInput } from '@candor/shared/schemas/study';
import { parseUnknown } from '@candor/shared/validation';
import codingPolicy from '../../seeds/policies/coding.v1.json' with { type: 'json' };
import studySeed from '../../seeds/studies/coding-practice.v1.json' with { type: 'json' };
import type { AppContext, ContextBatch, InputEvent } from '../src/capture/events.ts';
import { judgeContext } from '../src/context/filter.ts';
import { readCorpus } from '../src/redact/corpus.ts';
import { keystrokesOf } from '../src/redact/keystrokes.ts';
import { createPipeline } from '../src/redact/pipeline.ts';

const study = parseUnknown(StudyVersion, studySeed as StudyVersionInput);
const policy = parseUnknown(RedactionPolicy, codingPolicy);
const corpus = readCorpus(fileURLToPath(new URL('../../seeds/redaction-corpus/corpus.v1.jsonl', import.meta.url)));
const typedLines = corpus.filter((line) => line.context === 'terminal' || line.context === 'editor').map((line) => `${line.text}\n`);
const START = Date.parse('2026-11-23T09:00:00.000Z');
const screen = { width: 2560, height: 1440 };
const terminal: AppContext = { windowClass: 'xterm', windowTitle: 'dev@box: ~/candor', screen };
const editor: AppContext = { windowClass: 'code', windowTitle: 'pipeline.ts — candor — Visual Studio Code', screen };
const browser: AppContext = { windowClass: 'firefox', windowTitle: 'Docs — Mozilla Firefox', screen };

type Scenario = { name: string; batches: ContextBatch[]; events: number };

function pointerEvents(start: number, count: number): InputEvent[] {
  const events: InputEvent[] = [];
  for (let index = 0; index < count; index += 1) {
    const time = start + index;
    if (index % 400 === 399) events.push({ kind: 'mouse-down', time, x: index % 2560, y: index % 1440, button: 1 + (index % 3) });
    else if (index % 97 === 0) events.push({ kind: 'wheel', time, rotation: index % 2 === 0 ? 1 : -1, direction: 'vertical' });
    else events.push({ kind: 'mouse-move', time, x: (index * 3) % 2560, y: (index * 2) % 1440 });
  }
  return events;
}

function scenario(name: string, target: number, mix: { typing: boolean; pointer: boolean }): Scenario {
  const batches: ContextBatch[] = [];
  let time = START;
  let events = 0;
  let line = 0;
  while (events < target) {
    if (mix.typing) {
      const text = typedLines[line % typedLines.length] ?? '\n';
      line += 1;
      const keys = keystrokesOf(text, 'us-qwerty', time, 80);
      batches.push({ context: line % 3 === 0 ? editor : terminal, events: keys });
      events += keys.length;
      time = (keys.at(-1)?.time ?? time) + 300;
    }
    if (mix.pointer) {
      const moves = pointerEvents(time, 300);
      batches.push({ context: browser, events: moves });
      events += moves.length;
      time += 300 + 200;
    }
  }
  return { name, batches, events };
}

function run(scenario: Scenario) {
  let now = START;
  const pipeline = createPipeline(study, policy, () => now, {});
  let windows = 0;
  let tokens = 0;
  let lastClose = START;
  const count = (records: ReturnType<typeof pipeline.closeWindows>) => {
    windows += records.length;
    for (const record of records) if (record.aggregate.signal === 'typed-vocabulary') for (const value of Object.values(record.aggregate.counts)) tokens += value;
  };
  globalThis.gc?.();
  const began = performance.now();
  for (const batch of scenario.batches) {
    now = batch.events.at(-1)?.time ?? now;
    // The daemon's order: the context filter judges the batch, then redaction accepts it.
    if (!judgeContext(batch.context, study.apps).capture) continue;
    pipeline.accept(batch);
    if (now - lastClose >= 60_000) {
      count(pipeline.closeWindows(now));
      lastClose = now;
    }
  }
  count(pipeline.closeWindows(now + study.windowMinutes * 60_000));
  const seconds = (performance.now() - began) / 1000;
  return { seconds, windows, tokens, simulatedMinutes: (now - START) / 60_000 };
}

const scenarios = [
  scenario('typing in vocabulary apps (terminal, editor)', 1_000_000, { typing: true, pointer: false }),
  scenario('pointer at 1 kHz (browser)', 2_000_000, { typing: false, pointer: true }),
  scenario('mixed: typing lines and pointer bursts', 2_000_000, { typing: true, pointer: true }),
];
run(scenarios[2] ?? scenarios[0] ?? { name: '', batches: [], events: 0 }); // warm-up

const rows: Record<string, Record<string, string | number>> = {};
for (const entry of scenarios) {
  const result = run(entry);
  rows[entry.name] = {
    events: entry.events.toLocaleString('en-US'),
    'simulated min': Math.round(result.simulatedMinutes),
    'window records': result.windows,
    'tokens counted': result.tokens,
    seconds: result.seconds.toFixed(2),
    'events/s': Math.round(entry.events / result.seconds).toLocaleString('en-US'),
  };
}
console.log('pipeline throughput: context filter + redaction + aggregation, one core');
console.table(rows);
