import { describe, expect, it } from 'vitest';
import { parseUnknown, ValidationError } from '../validation.ts';
import { UploadBatch } from './envelope.ts';
import { HISTOGRAM_EDGES, WindowAggregate } from './window.ts';

const manifest = { policyHash: 'a'.repeat(64), detectors: [{ id: 'email', version: 1 }], redactions: { email: 2 } };
const windowOf = (aggregate: unknown) => ({
  studyId: 'coding-practice',
  studyVersion: 1,
  windowStart: '2026-11-23T10:15:00.000Z',
  windowMinutes: 15,
  aggregate,
  manifest,
});
const zeros = (edges: readonly number[]) => Array<number>(edges.length + 1).fill(0);

const validAggregates = {
  'keyboard-activity': { signal: 'keyboard-activity', keyCount: 120, correctionCount: 7, typingSpeed: zeros(HISTOGRAM_EDGES.typingSpeedKpm), pauses: zeros(HISTOGRAM_EDGES.pauseMs) },
  'key-classes': {
    signal: 'key-classes',
    counts: { letter: 80, digit: 3, punctuation: 9, whitespace: 15, enter: 4, backspace: 7, navigation: 2, modifier: 6, function: 0 },
  },
  shortcuts: { signal: 'shortcuts', counts: { 'Ctrl+C': 3, 'Ctrl+Shift+P': 1 } },
  'mouse-activity': {
    signal: 'mouse-activity',
    clicks: { left: 10, right: 1, middle: 0, other: 0 },
    scrollTicks: 40,
    distance: zeros(HISTOGRAM_EDGES.mouseDistanceSteps),
    speed: zeros(HISTOGRAM_EDGES.mouseSpeedDiagonalsPerSecond),
  },
  'app-usage': { signal: 'app-usage', seconds: { terminal: 600, editor: 300 } },
  'typed-vocabulary': { signal: 'typed-vocabulary', counts: { 'git': 4, 'rebase': 1, '--onto': 1 } },
};

function rejects(input: unknown): string[] {
  try {
    parseUnknown(WindowAggregate, input);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).issues.map((issue) => issue.path);
  }
  throw new Error('expected the window to be rejected');
}

describe('WindowAggregate', () => {
  it.each(Object.entries(validAggregates))('accepts a %s window', (_, aggregate) => {
    expect(parseUnknown(WindowAggregate, windowOf(aggregate)).aggregate).toEqual(aggregate);
  });

  it.each([
    ['a key identity smuggled into keyboard activity', { ...validAggregates['keyboard-activity'], lastKey: 'a' }, 'aggregate'],
    ['coordinates in mouse activity', { ...validAggregates['mouse-activity'], x: 100, y: 200 }, 'aggregate'],
    ['a histogram of the wrong length', { ...validAggregates['keyboard-activity'], pauses: [1, 2] }, 'aggregate.pauses'],
    ['a negative count', { ...validAggregates['keyboard-activity'], keyCount: -1 }, 'aggregate.keyCount'],
    ['a fractional count', { ...validAggregates['keyboard-activity'], keyCount: 1.5 }, 'aggregate.keyCount'],
    ['an unknown key class', { signal: 'key-classes', counts: { ...validAggregates['key-classes'].counts, emoji: 1 } }, 'aggregate.counts'],
    ['a shortcut outside the canonical form', { signal: 'shortcuts', counts: { 'shift+ctrl+p': 1 } }, 'aggregate.counts.*'],
    ['a window title as an app label', { signal: 'app-usage', seconds: { 'Inbox (3) - mail@example.org': 10 } }, 'aggregate.seconds.*'],
    ['typed text with spaces as a token', { signal: 'typed-vocabulary', counts: { 'my password is': 1 } }, 'aggregate.counts.*'],
    ['a token longer than 32 characters', { signal: 'typed-vocabulary', counts: { ['x'.repeat(33)]: 1 } }, 'aggregate.counts.*'],
    ['an unknown signal', { signal: 'screenshots', png: '...' }, 'aggregate.signal'],
  ])('rejects %s', (_, aggregate, path) => {
    expect(rejects(windowOf(aggregate))).toContain(path);
  });

  it('names rejected record keys as * so typed text never reaches an error message', () => {
    const typed = { signal: 'typed-vocabulary', counts: { 'my password is hunter2': 1 } };
    expect(() => parseUnknown(WindowAggregate, windowOf(typed))).toThrow(/aggregate\.counts\.\*/);
    expect(() => parseUnknown(WindowAggregate, windowOf(typed))).not.toThrow(/hunter2|password/);
  });

  it('rejects a window start that is not aligned to the window', () => {
    expect(rejects({ ...windowOf(validAggregates.shortcuts), windowStart: '2026-11-23T10:16:00.000Z' })).toContain('windowStart');
  });

  it('rejects a window shorter than the 5-minute floor', () => {
    expect(rejects({ ...windowOf(validAggregates.shortcuts), windowMinutes: 1 })).toContain('windowMinutes');
  });

  it('rejects a manifest that carries matches instead of counts', () => {
    expect(rejects({ ...windowOf(validAggregates.shortcuts), manifest: { ...manifest, matches: ['a@b.c'] } })).toContain('manifest');
  });
});

describe('UploadBatch', () => {
  it('accepts windows of one study version', () => {
    const batch = { batchId: 'c'.repeat(64), windows: [windowOf(validAggregates.shortcuts), windowOf(validAggregates['app-usage'])] };
    expect(parseUnknown(UploadBatch, batch).windows).toHaveLength(2);
  });

  it('rejects mixed study versions, empty batches and extra fields', () => {
    const other = { ...windowOf(validAggregates.shortcuts), studyVersion: 2 };
    expect(() => parseUnknown(UploadBatch, { batchId: 'c'.repeat(64), windows: [windowOf(validAggregates.shortcuts), other] })).toThrow(/windows: a batch holds one study version/);
    expect(() => parseUnknown(UploadBatch, { batchId: 'c'.repeat(64), windows: [] })).toThrow(/windows/);
    expect(() => parseUnknown(UploadBatch, { batchId: 'c'.repeat(64), windows: [windowOf(validAggregates.shortcuts)], raw: [] })).toThrow(/\(root\): unknown key/);
  });
});
