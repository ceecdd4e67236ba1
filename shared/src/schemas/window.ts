import { z } from 'zod';
import { PRIVACY_LIMITS } from '../defaults.ts';
import { Count, HashHex, Slug, UtcTimestamp } from './primitives.ts';
import { ShortcutName } from './study.ts';

/**
 * Histogram bucket edges. Bucket i counts values in [edges[i-1], edges[i]); the last bucket
 * is open-ended, so a histogram has edges.length + 1 counts. Fixed here so that every agent
 * and the aggregator agree on what a bucket means.
 */
export const HISTOGRAM_EDGES = {
  /** Typing speed over a burst, keys per minute. */
  typingSpeedKpm: [60, 120, 180, 240, 300, 400, 600],
  /** Pause between consecutive key presses, milliseconds. */
  pauseMs: [150, 300, 600, 1200, 2500, 5000, 15000],
  /** Pointer travel of one movement, in coarse steps of 1/64 of the screen diagonal. */
  mouseDistanceSteps: [1, 2, 4, 8, 16, 32],
  /** Pointer speed of one movement, screen diagonals per second. */
  mouseSpeedDiagonalsPerSecond: [0.25, 0.5, 1, 2, 4],
} as const;

const histogram = (edges: readonly number[]) => z.array(Count).length(edges.length + 1);

export const KEY_CLASSES = [
  'letter',
  'digit',
  'punctuation',
  'whitespace',
  'enter',
  'backspace',
  'navigation',
  'modifier',
  'function',
] as const;
export const KeyClass = z.enum(KEY_CLASSES);
export type KeyClass = z.infer<typeof KeyClass>;

export const KeyboardActivity = z.strictObject({
  signal: z.literal('keyboard-activity'),
  keyCount: Count,
  /** Backspace and delete presses; the correction ratio is correctionCount / keyCount. */
  correctionCount: Count,
  typingSpeed: histogram(HISTOGRAM_EDGES.typingSpeedKpm),
  pauses: histogram(HISTOGRAM_EDGES.pauseMs),
});

export const KeyClasses = z.strictObject({
  signal: z.literal('key-classes'),
  counts: z.strictObject(Object.fromEntries(KEY_CLASSES.map((name) => [name, Count])) as Record<KeyClass, typeof Count>),
});

export const Shortcuts = z.strictObject({
  signal: z.literal('shortcuts'),
  counts: z.record(ShortcutName, Count),
});

export const MouseActivity = z.strictObject({
  signal: z.literal('mouse-activity'),
  clicks: z.strictObject({ left: Count, right: Count, middle: Count, other: Count }),
  scrollTicks: Count,
  distance: histogram(HISTOGRAM_EDGES.mouseDistanceSteps),
  speed: histogram(HISTOGRAM_EDGES.mouseSpeedDiagonalsPerSecond),
});

export const AppUsage = z.strictObject({
  signal: z.literal('app-usage'),
  /** Seconds per allowlisted app label; a label, never a window title. */
  seconds: z.record(Slug, z.int().min(0).max(24 * 60 * 60)),
});

/** A typed token after redaction: short, single-line, no spaces. */
export const VocabularyToken = z
  .string()
  .min(1)
  .max(PRIVACY_LIMITS.maxTokenLength)
  .regex(/^[^\s\p{C}]+$/u, 'expected one token without spaces or control characters');

export const TypedVocabulary = z.strictObject({
  signal: z.literal('typed-vocabulary'),
  counts: z.record(VocabularyToken, Count),
});

export const SignalAggregate = z.discriminatedUnion('signal', [
  KeyboardActivity,
  KeyClasses,
  Shortcuts,
  MouseActivity,
  AppUsage,
  TypedVocabulary,
]);
export type SignalAggregate = z.infer<typeof SignalAggregate>;

/**
 * What redaction did to a window: the policy, the detectors that ran, and how many matches
 * each removed. Never the matches themselves.
 */
export const RedactionManifest = z.strictObject({
  policyHash: HashHex,
  detectors: z.array(z.strictObject({ id: Slug, version: z.int().min(1) })).max(100),
  redactions: z.record(Slug, Count),
});
export type RedactionManifest = z.infer<typeof RedactionManifest>;

/** One signal's aggregate over one window: the unit that is stored and uploaded. */
export const WindowAggregate = z
  .strictObject({
    studyId: Slug,
    studyVersion: z.int().min(1),
    windowStart: UtcTimestamp,
    windowMinutes: z.int().min(PRIVACY_LIMITS.minWindowMinutes).max(24 * 60),
    aggregate: SignalAggregate,
    manifest: RedactionManifest,
  })
  .superRefine((window, ctx) => {
    const start = Date.parse(window.windowStart);
    if (start % (window.windowMinutes * 60_000) !== 0) {
      ctx.addIssue({ code: 'custom', path: ['windowStart'], message: 'must be aligned to the window length' });
    }
  });
export type WindowAggregate = z.infer<typeof WindowAggregate>;
