import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { canonicalHash } from '@candor/shared/crypto';
import { CandorError } from '@candor/shared/errors';
import { RedactionPolicy } from '@candor/shared/schemas/policy';
import { StudyVersion, type StudyVersionInput } from '@candor/shared/schemas/study';
import { WindowAggregate, type SignalAggregate } from '@candor/shared/schemas/window';
import { parseUnknown } from '@candor/shared/validation';
import type { AppContext, ContextBatch, InputEvent } from '../capture/events.ts';
import codingPolicy from '../../../seeds/policies/coding.v1.json' with { type: 'json' };
import strictPolicy from '../../../seeds/policies/strict.v1.json' with { type: 'json' };
import studySeed from '../../../seeds/studies/coding-practice.v1.json' with { type: 'json' };
import { KEYS, type KeyboardLayout } from './keyboard.ts';
import { keystrokesOf, pressesOf } from './keystrokes.ts';
import { createPipeline, type PipelineOptions } from './pipeline.ts';
import { countVocabulary } from './vocabulary.ts';

const study = parseUnknown(StudyVersion, studySeed as StudyVersionInput);
const policy = parseUnknown(RedactionPolicy, codingPolicy);
const T0 = Date.parse('2026-11-23T10:00:00.000Z');
const WINDOW_MS = study.windowMinutes * 60_000;
const AFTER_WINDOW = T0 + WINDOW_MS;

const terminal: AppContext = { windowClass: 'xterm', windowTitle: 'dev@box: ~/candor', screen: { width: 1920, height: 1080 } };
const browser: AppContext = { windowClass: 'firefox', windowTitle: 'Docs — Mozilla Firefox', screen: { width: 1920, height: 1080 } };

function pipelineFor(options: PipelineOptions = {}) {
  return createPipeline(study, policy, () => T0, options);
}

/** Types `text` into `context` and returns the closed window's aggregates by signal. */
function typeAndClose(text: string, context: AppContext = terminal, layout: KeyboardLayout = 'us-qwerty', typedOn: KeyboardLayout = layout) {
  const pipeline = pipelineFor({ layout });
  pipeline.accept({ context, events: keystrokesOf(text, typedOn, T0 + 1000) });
  return bySignal(pipeline.closeWindows(AFTER_WINDOW));
}

function bySignal(records: readonly WindowAggregate[]): Map<SignalAggregate['signal'], SignalAggregate> {
  return new Map(records.map((record) => [record.aggregate.signal, record.aggregate]));
}

function vocabularyOf(aggregates: Map<SignalAggregate['signal'], SignalAggregate>): Record<string, number> {
  const vocabulary = aggregates.get('typed-vocabulary');
  if (vocabulary?.signal !== 'typed-vocabulary') throw new Error('no typed-vocabulary aggregate');
  return vocabulary.counts;
}

function keyCountOf(aggregates: Map<SignalAggregate['signal'], SignalAggregate>): number {
  const keyboard = aggregates.get('keyboard-activity');
  if (keyboard?.signal !== 'keyboard-activity') throw new Error('no keyboard-activity aggregate');
  return keyboard.keyCount;
}

describe('creating a pipeline', () => {
  it('refuses a policy other than the one the study references', () => {
    expect(() => createPipeline(study, parseUnknown(RedactionPolicy, strictPolicy), () => T0)).toThrow(
      expect.objectContaining({ code: 'redact.policy-mismatch' }) as CandorError,
    );
  });

  it('refuses a policy whose rules changed under the same id and version', () => {
    const edited = { ...policy, vocabulary: { ...policy.vocabulary, neighbourhood: 0 } };
    expect(() => createPipeline(study, edited, () => T0)).toThrow(expect.objectContaining({ code: 'redact.policy-mismatch' }) as CandorError);
  });

  it('refuses typed vocabulary under a policy that does not allow it', () => {
    const closed = { ...policy, vocabulary: { ...policy.vocabulary, enabled: false } };
    const studyOnClosed = { ...study, redactionPolicy: { ...study.redactionPolicy, hash: canonicalHash(closed) } };
    expect(() => createPipeline(studyOnClosed, closed, () => T0)).toThrow(expect.objectContaining({ code: 'redact.vocabulary-not-allowed' }) as CandorError);
  });
});

describe('windows', () => {
  it('emits nothing before a window ends, then one valid record per signal the study asked for', () => {
    const pipeline = pipelineFor();
    pipeline.accept({ context: terminal, events: keystrokesOf('ls -la\n', 'us-qwerty', T0 + 1000) });
    expect(pipeline.closeWindows(AFTER_WINDOW - 1)).toEqual([]);
    const records = pipeline.closeWindows(AFTER_WINDOW);
    expect(records.map((record) => record.aggregate.signal)).toEqual(study.signals);
    for (const record of records) {
      expect(() => parseUnknown(WindowAggregate, record)).not.toThrow();
      expect(record.windowStart).toBe('2026-11-23T10:00:00.000Z');
      expect(record.manifest.policyHash).toBe(study.redactionPolicy.hash);
      expect(record.manifest.detectors.map((detector) => detector.id)).toEqual(policy.detectors);
    }
    expect(pipeline.closeWindows(AFTER_WINDOW + WINDOW_MS)).toEqual([]);
  });

  it('emits only the signals a study asked for', () => {
    const narrow = { ...study, signals: ['mouse-activity' as const], vocabularyApps: [], shortcuts: [] };
    const pipeline = createPipeline(narrow, policy, () => T0);
    pipeline.accept({ context: terminal, events: keystrokesOf('echo hi\n', 'us-qwerty', T0) });
    expect(pipeline.closeWindows(AFTER_WINDOW).map((record) => record.aggregate.signal)).toEqual(['mouse-activity']);
  });

  it('refuses events for a window that has already closed, and events from the future', () => {
    const pipeline = pipelineFor();
    pipeline.accept({ context: terminal, events: keystrokesOf('a', 'us-qwerty', T0) });
    pipeline.closeWindows(AFTER_WINDOW);
    pipeline.accept({ context: terminal, events: keystrokesOf('late', 'us-qwerty', T0 + 5000) });
    pipeline.accept({ context: terminal, events: keystrokesOf('future', 'us-qwerty', T0 + 10 * WINDOW_MS) });
    expect(pipeline.closeWindows(T0 + 20 * WINDOW_MS)).toEqual([]);
  });

  it('forgets what was captured since a moment, keeping what came before', () => {
    const pipeline = pipelineFor();
    pipeline.accept({ context: terminal, events: keystrokesOf('make build\n', 'us-qwerty', T0) });
    const later = T0 + 5 * 60_000;
    pipeline.accept({ context: terminal, events: keystrokesOf('cargo test\n', 'us-qwerty', later) });
    pipeline.discardSince(later);
    const counts = vocabularyOf(bySignal(pipeline.closeWindows(AFTER_WINDOW)));
    expect(counts).toEqual({ make: 1, build: 1 });
  });

  it('forgets a line still being typed', () => {
    const pipeline = pipelineFor();
    pipeline.accept({ context: terminal, events: keystrokesOf('half typed', 'us-qwerty', T0 + 3 * 60_000) });
    pipeline.accept({ context: terminal, events: pressesOf([KEYS.enter], T0 + 3 * 60_000 + 5000) });
    pipeline.discardSince(T0 + 3 * 60_000);
    expect(pipeline.closeWindows(AFTER_WINDOW)).toEqual([]);
  });
});

describe('keys become classes, shortcuts and timings', () => {
  it('counts key classes and never which key', () => {
    const aggregates = typeAndClose('git st2\n');
    expect(aggregates.get('key-classes')).toEqual({
      signal: 'key-classes',
      counts: { letter: 5, digit: 1, punctuation: 0, whitespace: 1, enter: 1, backspace: 0, navigation: 0, modifier: 0, function: 0 },
    });
  });

  it('counts Backspace and Delete as corrections and builds pause and speed histograms', () => {
    const pipeline = pipelineFor();
    pipeline.accept({ context: terminal, events: [...keystrokesOf('abcdef', 'us-qwerty', T0, 100), ...pressesOf([KEYS.backspace, KEYS.delete], T0 + 600, 100)] });
    const keyboard = bySignal(pipeline.closeWindows(AFTER_WINDOW)).get('keyboard-activity');
    // 8 presses 100 ms apart: 7 pauses in [0, 150) ms and one burst at 600 keys per minute.
    expect(keyboard).toEqual({ signal: 'keyboard-activity', keyCount: 8, correctionCount: 2, pauses: [7, 0, 0, 0, 0, 0, 0, 0], typingSpeed: [0, 0, 0, 0, 0, 0, 0, 1] });
  });

  it('counts allowlisted shortcuts by name and ignores the rest', () => {
    const pipeline = pipelineFor();
    const P = 25;
    const Q = 16;
    pipeline.accept({ context: terminal, events: pressesOf([{ keycode: P, ctrl: true, shift: true }, { keycode: P, ctrl: true, shift: true }, { keycode: Q, ctrl: true }], T0) });
    expect(bySignal(pipeline.closeWindows(AFTER_WINDOW)).get('shortcuts')).toEqual({ signal: 'shortcuts', counts: { 'Ctrl+Shift+P': 2 } });
  });

  it('names a shortcut by what the key types on the layout (Ctrl+Z is the Y position on QWERTZ)', () => {
    const pipeline = pipelineFor({ layout: 'de-qwertz' });
    pipeline.accept({ context: terminal, events: pressesOf([{ keycode: 21, ctrl: true }], T0) });
    expect(bySignal(pipeline.closeWindows(AFTER_WINDOW)).get('shortcuts')).toEqual({ signal: 'shortcuts', counts: { 'Ctrl+Z': 1 } });
  });
});

describe('pointer events become counts and buckets', () => {
  it('counts clicks per button and scroll ticks, and buckets movements', () => {
    const pipeline = pipelineFor();
    const events: InputEvent[] = [
      { kind: 'mouse-move', time: T0, x: 0, y: 0 },
      { kind: 'mouse-move', time: T0 + 100, x: 300, y: 400 },
      { kind: 'mouse-down', time: T0 + 200, x: 300, y: 400, button: 1 },
      { kind: 'mouse-down', time: T0 + 300, x: 300, y: 400, button: 2 },
      { kind: 'mouse-down', time: T0 + 400, x: 300, y: 400, button: 3 },
      { kind: 'mouse-down', time: T0 + 500, x: 300, y: 400, button: 5 },
      { kind: 'wheel', time: T0 + 600, rotation: -3, direction: 'vertical' },
    ];
    pipeline.accept({ context: browser, events });
    const mouse = bySignal(pipeline.closeWindows(AFTER_WINDOW)).get('mouse-activity');
    // 500 px on a 2203 px diagonal is 14.5 steps of 1/64; over 0.1 s that is 2.27 diagonals a second.
    expect(mouse).toEqual({ signal: 'mouse-activity', clicks: { left: 1, right: 1, middle: 1, other: 1 }, scrollTicks: 3, distance: [0, 0, 0, 0, 1, 0, 0], speed: [0, 0, 0, 0, 1, 0] });
  });

  it('counts active seconds per allowlisted app label', () => {
    const pipeline = pipelineFor();
    pipeline.accept({ context: browser, events: [0, 10_000, 20_000, 200_000].map((offset): InputEvent => ({ kind: 'wheel', time: T0 + offset, rotation: 1, direction: 'vertical' })) });
    // 200 s after the last event is idle time, not use.
    expect(bySignal(pipeline.closeWindows(AFTER_WINDOW)).get('app-usage')).toEqual({ signal: 'app-usage', seconds: { browser: 20 } });
  });
});

describe('typed vocabulary', () => {
  it('rebuilds words and counts them in a vocabulary app', () => {
    expect(vocabularyOf(typeAndClose('git commit -m "fix parser"\ngit push\n'))).toEqual({ git: 2, commit: 1, '-m': 1, fix: 1, parser: 1, push: 1 });
  });

  it('applies Backspace, Delete and cursor moves as the editor would', () => {
    const pipeline = pipelineFor();
    const events = [
      ...keystrokesOf('gti', 'us-qwerty', T0),
      ...pressesOf([KEYS.backspace, KEYS.backspace], T0 + 1000),
      ...keystrokesOf('it sttaus', 'us-qwerty', T0 + 2000),
      ...pressesOf([KEYS.left, KEYS.left, KEYS.left, KEYS.left, KEYS.delete, KEYS.right], T0 + 4000),
      ...keystrokesOf('t', 'us-qwerty', T0 + 5000),
      ...pressesOf([KEYS.home], T0 + 6000),
      ...keystrokesOf('sudo_not ', 'us-qwerty', T0 + 7000),
      // As the hook reports it: Ctrl's own press already carries the Ctrl flag.
      ...pressesOf([{ keycode: 29, ctrl: true }, { keycode: KEYS.backspace, ctrl: true }, KEYS.end, KEYS.enter], T0 + 9000),
    ];
    pipeline.accept({ context: terminal, events });
    expect(vocabularyOf(bySignal(pipeline.closeWindows(AFTER_WINDOW)))).toEqual({ git: 1, status: 1 });
  });

  it('ends a stretch of text at a selection, which the next key may replace', () => {
    const pipeline = pipelineFor();
    pipeline.accept({
      context: terminal,
      events: [...keystrokesOf('alpha', 'us-qwerty', T0), ...pressesOf([{ keycode: KEYS.home, shift: true }], T0 + 600), ...keystrokesOf('beta\n', 'us-qwerty', T0 + 700)],
    });
    expect(vocabularyOf(bySignal(pipeline.closeWindows(AFTER_WINDOW)))).toEqual({ alpha: 1, beta: 1 });
  });

  it('ends a stretch of text where keys cannot tell the cursor (a click, Up, a paste)', () => {
    const pipeline = pipelineFor();
    pipeline.accept({
      context: terminal,
      events: [
        ...keystrokesOf('alpha', 'us-qwerty', T0),
        { kind: 'mouse-down', time: T0 + 600, x: 1, y: 1, button: 1 },
        ...keystrokesOf('beta', 'us-qwerty', T0 + 700),
        ...pressesOf([{ keycode: 47, ctrl: true }], T0 + 1200),
        ...keystrokesOf('gamma\n', 'us-qwerty', T0 + 1300),
      ],
    });
    expect(vocabularyOf(bySignal(pipeline.closeWindows(AFTER_WINDOW)))).toEqual({ alpha: 1, beta: 1, gamma: 1 });
  });

  it('ends a stretch of text when focus leaves for an app that is not captured', () => {
    const pipeline = pipelineFor();
    pipeline.accept({ context: terminal, events: keystrokesOf('alpha', 'us-qwerty', T0) });
    pipeline.accept({ context: { ...terminal, windowClass: 'slack' }, events: keystrokesOf('x', 'us-qwerty', T0 + 1000) });
    pipeline.accept({ context: terminal, events: keystrokesOf('beta\n', 'us-qwerty', T0 + 2000) });
    expect(vocabularyOf(bySignal(pipeline.closeWindows(AFTER_WINDOW)))).toEqual({ alpha: 1, beta: 1 });
  });

  it.each([
    ['us-qwerty', 'echo zeit'],
    ['de-qwertz', 'echo zeit'],
    ['fr-azerty', 'echo zeit'],
    ['de-qwertz', 'grep größe'],
    ['fr-azerty', 'echo été à 10h'],
  ] as const)('rebuilds what was typed on %s: %s', (layout, text) => {
    const counts = vocabularyOf(typeAndClose(`${text}\n`, terminal, layout));
    expect(Object.keys(counts).sort()).toEqual(text.split(' ').filter((word) => word.length >= 2 && !/^\d+$/.test(word)).sort());
  });

  it('reads physical keys through the layout: QWERTZ keys read as QWERTY type different words', () => {
    expect(vocabularyOf(typeAndClose('zeit\n', terminal, 'us-qwerty', 'de-qwertz'))).toEqual({ yeit: 1 });
  });

  it('composes dead keys the way the desktop does (^ then e is ê on QWERTZ)', () => {
    const pipeline = pipelineFor({ layout: 'de-qwertz' });
    pipeline.accept({ context: terminal, events: [...pressesOf([41], T0), ...keystrokesOf('etre\n', 'de-qwertz', T0 + 100)] });
    expect(vocabularyOf(bySignal(pipeline.closeWindows(AFTER_WINDOW)))).toEqual({ être: 1 });
  });

  it('types @ with AltGr on QWERTZ and drops the address with its neighbours', () => {
    const counts = vocabularyOf(typeAndClose('bitte mail an anna.berg@example.de wegen dem build\n', terminal, 'de-qwertz'));
    expect(counts).toEqual({ bitte: 1, build: 1 });
  });

  it('drops secrets and the tokens around them and counts them in the manifest', () => {
    const pipeline = pipelineFor();
    pipeline.accept({ context: terminal, events: keystrokesOf('export GITHUB_TOKEN=ghp_16C7e42F292c6912E7710c838347Ae178B4a && make deploy now\n', 'us-qwerty', T0) });
    const records = pipeline.closeWindows(AFTER_WINDOW);
    expect(vocabularyOf(bySignal(records))).toEqual({ deploy: 1, now: 1 });
    expect(records[0]?.manifest.redactions).toMatchObject({ secret: 1, email: 0 });
  });

  it('never rebuilds the lines after a command that may prompt for a password', () => {
    const aggregates = typeAndClose('sudo apt update\nhunter2pass\nwrong2pass\nagain3pass\nls\n');
    expect(vocabularyOf(aggregates)).toEqual({ sudo: 1, apt: 1, update: 1, ls: 1 });
    // The three lines after it count for nothing at all: 16 keys for the command, 3 for `ls`.
    expect(keyCountOf(aggregates)).toBe(16 + 3);
  });

  it('never rebuilds text, nor counts keys, under a window title that signals a sensitive context', () => {
    // "unlock" is one of the policy's title phrases and not on the context filter's built-in list.
    const aggregates = typeAndClose('s3cretword\n', { ...terminal, windowTitle: 'GPG key unlock' });
    expect(vocabularyOf(aggregates)).toEqual({});
    expect(keyCountOf(aggregates)).toBe(0);
  });

  it('never rebuilds text in an app that is not a vocabulary app', () => {
    const aggregates = typeAndClose('search words here\n', browser);
    expect(vocabularyOf(aggregates)).toEqual({});
    expect(keyCountOf(aggregates)).toBeGreaterThan(0);
  });

  it('counts nothing from apps outside the study allowlist, apps it denies, or the built-in sensitive list', () => {
    const pipeline = pipelineFor();
    pipeline.accept({ context: { ...terminal, windowClass: 'thunderbird' }, events: keystrokesOf('mail words\n', 'us-qwerty', T0) });
    pipeline.accept({ context: { ...terminal, windowClass: 'slack' }, events: keystrokesOf('chat words\n', 'us-qwerty', T0 + 5000) });
    pipeline.accept({ context: { ...terminal, windowTitle: '[sudo] password for dev' }, events: keystrokesOf('s3cret\n', 'us-qwerty', T0 + 9000) });
    expect(pipeline.closeWindows(AFTER_WINDOW)).toEqual([]);
  });
});

describe('privacy invariant 2: a typed canary leaves no trace', () => {
  const CANARY = 'zqxcanary7431';
  /** Everything the pipeline let out: records, manifests, log lines and error messages. */
  function scan(outputs: readonly string[]): boolean {
    return outputs.some((output) => output.toLowerCase().includes(CANARY));
  }

  function runCanary(text: string, context: AppContext, withPrompt: boolean) {
    const lines: string[] = [];
    const logger = pino({ level: 'trace' }, new Writable({ write(chunk: Buffer, _encoding, done) { lines.push(chunk.toString()); done(); } }));
    const pipeline = createPipeline(study, policy, () => T0, { logger });
    const typed = `${withPrompt ? 'ssh build01\n' : ''}${text}\n`;
    const batch: ContextBatch = { context, events: keystrokesOf(typed, 'us-qwerty', T0) };
    pipeline.accept(batch);
    // Refused events exercise the logging path.
    pipeline.accept({ context, events: keystrokesOf(text, 'us-qwerty', T0 + 100 * WINDOW_MS) });
    const errors: string[] = [];
    try {
      createPipeline(study, { ...policy, description: CANARY, detectors: [CANARY] } as unknown as typeof policy, () => T0);
    } catch (error) {
      errors.push((error as Error).message);
    }
    return [JSON.stringify(pipeline.closeWindows(AFTER_WINDOW)), ...lines, ...errors];
  }

  it.each([
    ['inside an email address', `mail ${CANARY}@example.com now`, terminal, false],
    ['as a password after ssh', CANARY, terminal, true],
    ['after password=', `mysqladmin --password=${CANARY}9`, terminal, false],
    ['in an app with no vocabulary', `plain ${CANARY} words`, browser, false],
    ['in a window title', 'ls', { ...terminal, windowTitle: `${CANARY} — vim` }, false],
  ] as const)('finds no canary typed %s', (_, text, context, withPrompt) => {
    expect(scan(runCanary(text, context, withPrompt))).toBe(false);
  });

  it('finds the canary when the prompt protection is switched off: the scan can fail', () => {
    // Same keys, no ssh line before them: the canary is an ordinary word and is counted.
    expect(scan(runCanary(CANARY, terminal, false))).toBe(true);
  });

  it('finds the canary when the detectors are switched off: the scan can fail', () => {
    const counts = new Map<string, number>();
    countVocabulary(`mail ${CANARY}@example.com now`, policy.vocabulary, [], counts, new Map());
    expect(scan([JSON.stringify(Object.fromEntries(counts))])).toBe(true);
  });
});
