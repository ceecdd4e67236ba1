/**
 * Counts per minute, the unit the pipeline aggregates into before a window closes. Minutes
 * exist so that `candor forget 15m` can drop what was captured since a moment without keeping
 * events: everything from the minute that moment falls in is dropped (a little more than
 * asked, never less). A slice holds counts only — no key identities, no text, no positions.
 */
import type { DetectorId } from '@candor/shared/schemas/policy';
import { HISTOGRAM_EDGES, KEY_CLASSES, type KeyClass } from '@candor/shared/schemas/window';

export const SLICE_MS = 60_000;

export type Slice = {
  start: number;
  keyCount: number;
  correctionCount: number;
  typingSpeed: number[];
  pauses: number[];
  keyClasses: number[];
  shortcuts: Map<string, number>;
  clicks: [left: number, right: number, middle: number, other: number];
  scrollTicks: number;
  distance: number[];
  speed: number[];
  appMs: Map<string, number>;
  vocabulary: Map<string, number>;
  redactions: Map<DetectorId, number>;
};

export const KEY_CLASS_INDEX: Readonly<Record<KeyClass, number>> = Object.fromEntries(KEY_CLASSES.map((name, index) => [name, index])) as Record<KeyClass, number>;

function emptySlice(start: number): Slice {
  return {
    start,
    keyCount: 0,
    correctionCount: 0,
    typingSpeed: new Array<number>(HISTOGRAM_EDGES.typingSpeedKpm.length + 1).fill(0),
    pauses: new Array<number>(HISTOGRAM_EDGES.pauseMs.length + 1).fill(0),
    keyClasses: new Array<number>(KEY_CLASSES.length).fill(0),
    shortcuts: new Map(),
    clicks: [0, 0, 0, 0],
    scrollTicks: 0,
    distance: new Array<number>(HISTOGRAM_EDGES.mouseDistanceSteps.length + 1).fill(0),
    speed: new Array<number>(HISTOGRAM_EDGES.mouseSpeedDiagonalsPerSecond.length + 1).fill(0),
    appMs: new Map(),
    vocabulary: new Map(),
    redactions: new Map(),
  };
}

/** The bucket a value falls in: bucket i holds [edges[i-1], edges[i]); the last is open-ended. */
export function bucketOf(edges: readonly number[], value: number): number {
  let index = 0;
  while (index < edges.length && value >= (edges[index] ?? Infinity)) index += 1;
  return index;
}

export function addTo<K>(map: Map<K, number>, key: K, amount: number): void {
  map.set(key, (map.get(key) ?? 0) + amount);
}

function addArray(into: number[], from: readonly number[]): void {
  from.forEach((value, index) => {
    into[index] = (into[index] ?? 0) + value;
  });
}

function addMap<K>(into: Map<K, number>, from: ReadonlyMap<K, number>): void {
  for (const [key, value] of from) addTo(into, key, value);
}

function mergeInto(into: Slice, from: Slice): void {
  into.keyCount += from.keyCount;
  into.correctionCount += from.correctionCount;
  addArray(into.typingSpeed, from.typingSpeed);
  addArray(into.pauses, from.pauses);
  addArray(into.keyClasses, from.keyClasses);
  addMap(into.shortcuts, from.shortcuts);
  addArray(into.clicks, from.clicks);
  into.scrollTicks += from.scrollTicks;
  addArray(into.distance, from.distance);
  addArray(into.speed, from.speed);
  addMap(into.appMs, from.appMs);
  addMap(into.vocabulary, from.vocabulary);
  addMap(into.redactions, from.redactions);
}

/** One ended window: its aligned start and the sum of its minutes. */
export type EndedWindow = { start: number; totals: Slice };

/** The open minutes of one pipeline, and the line behind which windows are closed for good. */
export class SliceStore {
  readonly #windowMs: number;
  #slices = new Map<number, Slice>();
  #current: Slice | undefined;
  /** Counts for a moment whose window has already closed land here and are never emitted. */
  #late = emptySlice(0);
  #closedBefore = -Infinity;

  constructor(windowMinutes: number) {
    this.#windowMs = windowMinutes * 60_000;
  }

  /** Whether a moment still belongs to an open window. */
  isOpen(time: number): boolean {
    return time >= this.#closedBefore;
  }

  /** The slice counting a moment. */
  at(time: number): Slice {
    const current = this.#current;
    if (current !== undefined && time >= current.start && time < current.start + SLICE_MS) return current;
    if (!this.isOpen(time)) return this.#late;
    const start = time - (time % SLICE_MS);
    let slice = this.#slices.get(start);
    if (slice === undefined) {
      slice = emptySlice(start);
      this.#slices.set(start, slice);
    }
    this.#current = slice;
    return slice;
  }

  /** Removes and returns every window that has ended by `now`, oldest first; later counts for them are dropped. */
  closeEnded(now: number): EndedWindow[] {
    const boundary = now - (now % this.#windowMs);
    const ended = new Map<number, Slice>();
    for (const [start, slice] of this.#slices) {
      if (start >= boundary) continue;
      const windowStart = start - (start % this.#windowMs);
      let totals = ended.get(windowStart);
      if (totals === undefined) {
        totals = emptySlice(windowStart);
        ended.set(windowStart, totals);
      }
      mergeInto(totals, slice);
      this.#slices.delete(start);
    }
    this.#closedBefore = Math.max(this.#closedBefore, boundary);
    this.#current = undefined;
    this.#late = emptySlice(0);
    return [...ended.values()].sort((a, b) => a.start - b.start).map((totals) => ({ start: totals.start, totals }));
  }

  /** Drops every minute that holds anything captured at or after `time`. */
  discardSince(time: number): void {
    const from = time - (time % SLICE_MS);
    for (const start of [...this.#slices.keys()]) if (start >= from) this.#slices.delete(start);
    this.#current = undefined;
  }
}
