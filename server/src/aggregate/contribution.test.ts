/**
 * How many cells one participant can be in: fixed by the consented scope, never by the data, and
 * enforced on every participant's contribution before cells are counted.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StudyVersion } from '@candor/shared/schemas/study';
import { HISTOGRAM_EDGES, type SignalAggregate, type WindowAggregate } from '@candor/shared/schemas/window';
import { boundContribution, cellsPerParticipant, cohortCells, metricsOfWindows, OPEN_CELLS_PER_PARTICIPANT, releaseCells, type Metrics } from './cohorts.ts';

const SEED = StudyVersion.parse(JSON.parse(readFileSync(new URL('../../../seeds/studies/coding-practice.v1.json', import.meta.url), 'utf8')));
const OPEN_APPS = StudyVersion.parse({ ...SEED, apps: { allow: [], deny: SEED.apps.deny } });

const count = fc.nat({ max: 5000 });
const histogram = (edges: readonly number[]) => fc.array(count, { minLength: edges.length + 1, maxLength: edges.length + 1 });
const slug = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);
const counts = (names: fc.Arbitrary<string>) => fc.dictionary(names, count, { maxKeys: 300 });

/** Any aggregate the study's scope admits (the aggregator quarantines the rest before counting). */
function aggregateOf(study: StudyVersion): fc.Arbitrary<SignalAggregate> {
  const labels = study.apps.allow.map((app) => app.label);
  const bySignal: Record<StudyVersion['signals'][number], fc.Arbitrary<SignalAggregate>> = {
    'keyboard-activity': fc.record({ signal: fc.constant('keyboard-activity' as const), keyCount: count, correctionCount: count, typingSpeed: histogram(HISTOGRAM_EDGES.typingSpeedKpm), pauses: histogram(HISTOGRAM_EDGES.pauseMs) }),
    'key-classes': fc.record({ signal: fc.constant('key-classes' as const), counts: fc.record({ letter: count, digit: count, punctuation: count, whitespace: count, enter: count, backspace: count, navigation: count, modifier: count, function: count }) }),
    shortcuts: fc.record({ signal: fc.constant('shortcuts' as const), counts: counts(fc.constantFrom(...study.shortcuts)) }),
    'mouse-activity': fc.record({ signal: fc.constant('mouse-activity' as const), clicks: fc.record({ left: count, right: count, middle: count, other: count }), scrollTicks: count, distance: histogram(HISTOGRAM_EDGES.mouseDistanceSteps), speed: histogram(HISTOGRAM_EDGES.mouseSpeedDiagonalsPerSecond) }),
    'app-usage': fc.record({ signal: fc.constant('app-usage' as const), seconds: counts(labels.length > 0 ? fc.constantFrom(...labels) : slug) }),
    'typed-vocabulary': fc.record({ signal: fc.constant('typed-vocabulary' as const), counts: counts(fc.stringMatching(/^[a-z0-9_.-]{1,12}$/)) }),
  };
  return fc.oneof(...study.signals.map((signal) => bySignal[signal]));
}

const windowsOf = (study: StudyVersion) =>
  fc.array(aggregateOf(study), { maxLength: 40 }).map((aggregates) =>
    aggregates.map((aggregate): WindowAggregate => ({
      studyId: study.studyId,
      studyVersion: study.version,
      windowStart: '2026-11-23T09:00:00.000Z',
      windowMinutes: study.windowMinutes,
      aggregate,
      manifest: { policyHash: study.redactionPolicy.hash, detectors: [], redactions: {} },
    })),
  );

describe('the cells one participant can be in', () => {
  it.each([
    ['the seed study', SEED],
    ['a study whose app-usage has no allowlist', OPEN_APPS],
  ])('never exceed what the scope of %s allows, whatever the participant sent', (_name, study) => {
    fc.assert(
      fc.property(windowsOf(study), (windows) => {
        expect(Object.keys(boundContribution(metricsOfWindows(windows))).length).toBeLessThanOrEqual(cellsPerParticipant([study]));
      }),
      { numRuns: 200 },
    );
  });

  it('keep the largest cells of an open-ended signal, ties by name, and every cell of a fixed-shape one', () => {
    const metrics: Metrics = { 'keyboard-activity.keyCount': 1 };
    for (let index = 0; index < 500; index += 1) metrics[`typed-vocabulary.word${String(index).padStart(3, '0')}`] = index < 10 ? 1000 : 1;
    const bounded = boundContribution(metrics);
    const words = Object.keys(bounded).filter((metric) => metric.startsWith('typed-vocabulary.'));
    expect(words).toHaveLength(OPEN_CELLS_PER_PARTICIPANT);
    expect(words.slice(0, 10).every((word) => bounded[word] === 1000)).toBe(true);
    expect(words).toContain('typed-vocabulary.word010');
    expect(words).not.toContain('typed-vocabulary.word499');
    expect(bounded['keyboard-activity.keyCount']).toBe(1);
    // And cohort cells count only the bounded contribution: ten people typing the same 500 words open 20 cells, not 500.
    const cells = cohortCells(new Map(Array.from({ length: 10 }, (_, index) => [`p${String(index)}`, metrics])), 10);
    expect(cells.filter((cell) => cell.metric.startsWith('typed-vocabulary.'))).toHaveLength(OPEN_CELLS_PER_PARTICIPANT);
  });

  it('count every approved version a participant may have sent data under, and open app labels without an allowlist', () => {
    const widened = StudyVersion.parse({ ...SEED, version: 2, shortcuts: [...SEED.shortcuts, 'Ctrl+Shift+T', 'F5'] });
    expect(cellsPerParticipant([SEED, widened])).toBe(cellsPerParticipant([SEED]) + 2);
    expect(cellsPerParticipant([OPEN_APPS])).toBe(cellsPerParticipant([SEED]) - new Set(SEED.apps.allow.map((app) => app.label)).size + OPEN_CELLS_PER_PARTICIPANT);
    const keyboardOnly = StudyVersion.parse({ ...SEED, signals: ['keyboard-activity'], vocabularyApps: [], shortcuts: [] });
    expect(cellsPerParticipant([keyboardOnly])).toBe(2 + HISTOGRAM_EDGES.typingSpeedKpm.length + 1 + HISTOGRAM_EDGES.pauseMs.length + 1);
  });
});

describe('a release', () => {
  it('noises a cell the same whether or not one more participant pushes another cell past k', () => {
    const k = 10;
    // Enough participants to clear the noisy threshold of the seed study's scope.
    const shared = Array.from({ length: 3000 }, (_, index): [string, Metrics] => [`p${String(index)}`, { 'keyboard-activity.keyCount': 40 }]);
    const rare = Array.from({ length: k - 1 }, (_, index): [string, Metrics] => [`r${String(index)}`, { 'keyboard-activity.keyCount': 40, 'typed-vocabulary.rare': 1 }]);
    // The last participant is in both worlds; only whether they typed the rare word differs.
    const without = cohortCells(new Map([...shared, ...rare, ['last', { 'keyboard-activity.keyCount': 40 }]]), k);
    const withThem = cohortCells(new Map([...shared, ...rare, ['last', { 'keyboard-activity.keyCount': 40, 'typed-vocabulary.rare': 1 }]]), k);
    expect(withThem.length).toBe(without.length + 1);
    const keyCount = (cells: typeof without) => {
      let state = 1_234_567;
      const uniform = () => (state = (state * 48271) % 2147483647) / 2147483647;
      return releaseCells(cells, k, 1, cellsPerParticipant([SEED]), uniform).find((cell) => cell.metric === 'keyboard-activity.keyCount');
    };
    // Same seeded draws, and keyCount sorts before the rare word: only a data-dependent scale could tell the worlds apart.
    expect(keyCount(without)).toBeDefined();
    expect(keyCount(withThem)?.noisyTotal).toBe(keyCount(without)?.noisyTotal);
  });
});
