import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ContextBatch } from './events.ts';
import { createCapture } from './pipeline.ts';
import { parseRecording, readRecording } from './recording.ts';
import { createReplaySource } from './replay.ts';

const seed = (name: string) => new URL(`../../../seeds/recordings/${name}.jsonl`, import.meta.url).pathname;
const HEADER = '{"recording":"candor/1","name":"t","screen":{"width":800,"height":600}}';

describe('recordings', () => {
  it.each(['coding', 'writing', 'browsing'])('the %s seed parses, has events and keeps time in order', (name) => {
    const recording = readRecording(seed(name));
    const events = recording.steps.filter((step) => 'event' in step);
    expect(events.length).toBeGreaterThan(200);
    const times = recording.steps.map((step) => step.at);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    // Plausible pace: a few minutes, not a burst.
    expect(times.at(-1)).toBeGreaterThan(60_000);
  });

  it.each([
    ['a line that is not JSON', `${HEADER}\nnot json`, /line 2 of the recording is not JSON/],
    ['an unknown event kind', `${HEADER}\n{"at":1,"kind":"screenshot"}`, /recording line 2/],
    ['an extra field', `${HEADER}\n{"at":1,"kind":"key-down","keycode":30,"text":"secret"}`, /recording line 2/],
    ['time going backwards', `${HEADER}\n{"at":5,"kind":"key-down","keycode":30}\n{"at":4,"kind":"key-up","keycode":30}`, /goes back in time/],
    ['a wrong header', '{"recording":"other"}\n{"at":1,"kind":"key-down","keycode":30}', /recording header/],
    ['no events', `${HEADER}\n{"at":1,"kind":"context","windowClass":"xterm","windowTitle":null}`, /no events/],
  ])('refuse %s, naming the line but not its content', (_, text, message) => {
    expect(() => parseRecording(text)).toThrow(message);
    try {
      parseRecording(text);
    } catch (error) {
      expect(String(error)).not.toMatch(/secret|screenshot/);
    }
  });
});

describe('replay through the capture pipeline', () => {
  it('delivers the writing session but nothing typed into the password manager', async () => {
    const recording = readRecording(seed('writing'));
    const batches: ContextBatch[] = [];
    const source = createReplaySource(recording, { speed: 400, loop: false });
    const capture = createCapture({ source, sink: { accept: (batch) => batches.push(batch) }, batchMs: 20 });
    capture.start({ allow: [], deny: [] });
    await new Promise((resolve) => setTimeout(resolve, (recording.steps.at(-1)?.at ?? 0) / 400 + 300));
    capture.stop();
    let inVault = false;
    let vaultEvents = 0;
    let allEvents = 0;
    for (const step of recording.steps) {
      if ('context' in step) inVault = step.context.windowClass === 'KeePassXC';
      else {
        allEvents += 1;
        if (inVault) vaultEvents += 1;
      }
    }
    const classes = new Set(batches.map((batch) => batch.context.windowClass));
    expect(classes).toEqual(new Set(['libreoffice-writer']));
    expect(capture.counts.accepted + capture.counts.excluded).toBe(allEvents);
    // Every vault event is dropped (with the batches around the switches), even at 400× speed
    // where the whole vault visit falls between two foreground lookups.
    expect(capture.counts.excluded).toBeGreaterThanOrEqual(vaultEvents);
    expect(capture.counts.accepted).toBeGreaterThan(allEvents / 2);
    const delivered = batches.reduce((sum, batch) => sum + batch.events.length, 0);
    expect(delivered).toBe(capture.counts.accepted);
  });

  it.each([
    ['drops a batch in which the focus left for a password manager and came back', true, 0],
    ['keeps the same batch when the focus never left', false, 12],
  ])('%s', async (_, visitVault, kept) => {
    const writer = '{"at":0,"kind":"context","windowClass":"libreoffice-writer","windowTitle":"notes.odt"}';
    const keys = (from: number) => [0, 1].map((i) => `{"at":${from + i * 10},"kind":"key-down","keycode":30}\n{"at":${from + i * 10 + 5},"kind":"key-up","keycode":30}`).join('\n');
    const vault = visitVault
      ? `{"at":100,"kind":"context","windowClass":"KeePassXC","windowTitle":"vault"}\n${keys(110)}\n{"at":150,"kind":"context","windowClass":"libreoffice-writer","windowTitle":"notes.odt"}`
      : keys(110);
    const recording = parseRecording(`${HEADER}\n${writer}\n${keys(10)}\n${vault}\n${keys(200)}`);
    const source = createReplaySource(recording, { speed: 1, loop: false });
    // One long batch holds the whole visit: both lookups see the writer, only the switch count differs.
    const capture = createCapture({ source, sink: { accept: () => undefined }, batchMs: 400 });
    capture.start({ allow: [], deny: [] });
    await new Promise((resolve) => setTimeout(resolve, 900));
    capture.stop();
    expect(capture.counts.accepted).toBe(kept);
  });

  it('halts playback while stopped and resumes where it was', async () => {
    const recording = readRecording(seed('coding'));
    const source = createReplaySource(recording, { speed: 100 });
    let seen = 0;
    source.start(() => {
      seen += 1;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    source.stop();
    expect(source.running).toBe(false);
    const atStop = seen;
    expect(atStop).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(seen).toBe(atStop);
  });

  it('is the format the generator writes', () => {
    expect(readFileSync(seed('browsing'), 'utf8').split('\n')[0]).toContain('"recording":"candor/1"');
  });
});
