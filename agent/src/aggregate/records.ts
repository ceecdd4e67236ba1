/**
 * Turns an ended window's counts into the records that are stored and uploaded: one per
 * signal the study asked for, each validated against the shared schema, each carrying the
 * window's redaction manifest.
 */
import type { DetectorId } from '@candor/shared/schemas/policy';
import { assertNever } from '@candor/shared/errors';
import type { SignalName, StudyVersion } from '@candor/shared/schemas/study';
import { parseUnknown } from '@candor/shared/validation';
import { KEY_CLASSES, WindowAggregate, type RedactionManifest, type SignalAggregate } from '@candor/shared/schemas/window';
import type { EndedWindow, Slice } from './slices.ts';

/** What the manifest says about redaction: the policy's hash and the detectors that ran. */
export type RanDetectors = { policyHash: string; detectors: readonly { id: DetectorId; version: number }[] };

function aggregateOf(signal: SignalName, totals: Slice): SignalAggregate {
  switch (signal) {
    case 'keyboard-activity':
      return {
        signal,
        keyCount: totals.keyCount,
        correctionCount: totals.correctionCount,
        typingSpeed: totals.typingSpeed,
        pauses: totals.pauses,
      };
    case 'key-classes':
      return {
        signal,
        counts: Object.fromEntries(KEY_CLASSES.map((name, index) => [name, totals.keyClasses[index] ?? 0])) as Record<(typeof KEY_CLASSES)[number], number>,
      };
    case 'shortcuts':
      return { signal, counts: Object.fromEntries(totals.shortcuts) };
    case 'mouse-activity': {
      const [left, right, middle, other] = totals.clicks;
      return { signal, clicks: { left, right, middle, other }, scrollTicks: totals.scrollTicks, distance: totals.distance, speed: totals.speed };
    }
    case 'app-usage':
      return { signal, seconds: Object.fromEntries([...totals.appMs].map(([label, ms]) => [label, Math.floor(ms / 1000)])) };
    case 'typed-vocabulary':
      return { signal, counts: Object.fromEntries(totals.vocabulary) };
    default:
      return assertNever(signal, 'signal');
  }
}

/**
 * The records of one ended window.
 * @throws ValidationError if a record does not match the shared schema (a bug: the pipeline
 * only ever counts what the schema allows).
 */
export function recordsOf(window: EndedWindow, study: StudyVersion, ran: RanDetectors): WindowAggregate[] {
  const detectors = ran.detectors.map(({ id, version }) => ({ id, version }));
  const redactions = Object.fromEntries(ran.detectors.map(({ id }) => [id, window.totals.redactions.get(id) ?? 0]));
  const manifest: RedactionManifest = { policyHash: ran.policyHash, detectors, redactions };
  return study.signals.map((signal) =>
    parseUnknown(
      WindowAggregate,
      {
        studyId: study.studyId,
        studyVersion: study.version,
        windowStart: new Date(window.start).toISOString(),
        windowMinutes: study.windowMinutes,
        aggregate: aggregateOf(signal, window.totals),
        manifest,
      },
      'window aggregate',
    ),
  );
}
