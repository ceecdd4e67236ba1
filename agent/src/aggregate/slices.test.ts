import { describe, expect, it } from 'vitest';
import { HISTOGRAM_EDGES } from '@candor/shared/schemas/window';
import { bucketOf, SLICE_MS, SliceStore } from './slices.ts';

const T0 = Date.parse('2026-11-23T10:00:00.000Z');
const WINDOW_MS = 15 * 60_000;

describe('bucketOf', () => {
  it.each([
    [0, 0],
    [149, 0],
    [150, 1],
    [151, 1],
    [14_999, 6],
    [15_000, 7],
    [1e9, 7],
  ])('puts a %i ms pause in bucket %i', (value, bucket) => {
    expect(bucketOf(HISTOGRAM_EDGES.pauseMs, value)).toBe(bucket);
  });
});

describe('SliceStore', () => {
  it('sums the minutes of a window when it ends, and not before', () => {
    const store = new SliceStore(15);
    store.at(T0 + 1000).keyCount += 2;
    store.at(T0 + 7 * SLICE_MS).keyCount += 3;
    store.at(T0 + WINDOW_MS + 1000).keyCount += 5;
    expect(store.closeEnded(T0 + WINDOW_MS - 1)).toEqual([]);
    const ended = store.closeEnded(T0 + WINDOW_MS);
    expect(ended.map((window) => [window.start, window.totals.keyCount])).toEqual([[T0, 5]]);
    expect(store.closeEnded(T0 + 2 * WINDOW_MS).map((window) => window.totals.keyCount)).toEqual([5]);
  });

  it('never reopens a closed window: later counts for it are dropped', () => {
    const store = new SliceStore(15);
    store.at(T0).keyCount += 1;
    store.closeEnded(T0 + WINDOW_MS);
    expect(store.isOpen(T0 + 5000)).toBe(false);
    store.at(T0 + 5000).keyCount += 1;
    expect(store.closeEnded(T0 + 10 * WINDOW_MS)).toEqual([]);
  });

  it('forgets from the start of the minute a moment falls in', () => {
    const store = new SliceStore(15);
    store.at(T0 + 30_000).keyCount += 1;
    store.at(T0 + 2 * SLICE_MS + 10_000).keyCount += 10;
    store.at(T0 + 2 * SLICE_MS + 50_000).keyCount += 100;
    store.discardSince(T0 + 2 * SLICE_MS + 40_000);
    expect(store.closeEnded(T0 + WINDOW_MS).map((window) => window.totals.keyCount)).toEqual([1]);
  });
});
