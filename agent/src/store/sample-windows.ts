/**
 * Valid windows for tests and benchmarks of the store and the uploader: what the aggregation
 * step hands over, with a distinct window start per index so arrivals can be counted.
 */
import type { WindowAggregate } from '@candor/shared/schemas/window';

export const SAMPLE_STUDY = 'coding-practice';
const BASE = Date.UTC(2026, 10, 16, 0, 0, 0);
const WINDOW_MINUTES = 15;

export function sampleWindowStart(index: number): string {
  return new Date(BASE + index * WINDOW_MINUTES * 60_000).toISOString();
}

/** A shortcuts window, or a typed-vocabulary window when `vocabulary` is given. */
export function sampleWindow(index: number, options: { studyId?: string; studyVersion?: number; vocabulary?: Record<string, number> } = {}): WindowAggregate {
  return {
    studyId: options.studyId ?? SAMPLE_STUDY,
    studyVersion: options.studyVersion ?? 1,
    windowStart: sampleWindowStart(index),
    windowMinutes: WINDOW_MINUTES,
    aggregate: options.vocabulary
      ? { signal: 'typed-vocabulary', counts: options.vocabulary }
      : { signal: 'shortcuts', counts: { 'Ctrl+C': (index % 5) + 1, 'Ctrl+S': 1 } },
    manifest: { policyHash: 'a'.repeat(64), detectors: [{ id: 'email', version: 1 }], redactions: { email: 0 } },
  };
}
