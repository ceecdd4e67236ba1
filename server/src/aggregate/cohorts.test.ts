import { describe, expect, it } from 'vitest';
import { cohortCells, CONTRIBUTION_CAP, type Metrics } from './cohorts.ts';
import { laplaceNoise } from './noise.ts';

const people = (count: number, metrics: Metrics) => new Map(Array.from({ length: count }, (_, index) => [`p${index}`, { ...metrics }]));

describe('cohort cells', () => {
  it.each([
    [9, 10, 0],
    [10, 10, 1],
    [11, 10, 1],
    [5, 5, 1],
    [4, 5, 0],
  ])('with %i participants and k = %i, releases %i cell', (count, k, cells) => {
    expect(cohortCells(people(count, { 'keyboard-activity.keyCount': 3 }), k)).toHaveLength(cells);
  });

  it('counts distinct participants, not rows or totals', () => {
    const one = new Map([['p0', { 'shortcuts.Ctrl+C': 500 }]]);
    expect(cohortCells(one, 5)).toEqual([]);
  });

  it('clips each participant at the contribution cap', () => {
    const map = people(10, { 'app-usage.terminal': 10 });
    map.set('p0', { 'app-usage.terminal': 1_000_000 });
    expect(cohortCells(map, 10)).toEqual([{ metric: 'app-usage.terminal', participants: 10, total: 9 * 10 + CONTRIBUTION_CAP }]);
  });

  it('suppresses a rare token even when a common one in the same study is released', () => {
    const map = people(10, { 'typed-vocabulary.git': 1 });
    map.set('p0', { 'typed-vocabulary.git': 1, 'typed-vocabulary.hunter2': 1 });
    expect(cohortCells(map, 10).map((cell) => cell.metric)).toEqual(['typed-vocabulary.git']);
  });
});

describe('Laplace noise', () => {
  it('is symmetric around zero with the requested scale (mean absolute value ≈ scale)', () => {
    let state = 1;
    // A fixed, evenly spread sequence of uniforms in (0, 1), so the check is deterministic.
    const uniform = () => ((state = (state * 48271) % 2147483647) / 2147483647);
    const samples = Array.from({ length: 20_000 }, () => laplaceNoise(2, uniform));
    const mean = samples.reduce((sum, value) => sum + value, 0) / samples.length;
    const meanAbsolute = samples.reduce((sum, value) => sum + Math.abs(value), 0) / samples.length;
    expect(Math.abs(mean)).toBeLessThan(0.1);
    expect(meanAbsolute).toBeGreaterThan(1.9);
    expect(meanAbsolute).toBeLessThan(2.1);
  });
});
