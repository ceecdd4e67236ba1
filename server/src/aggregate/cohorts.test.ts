import { describe, expect, it } from 'vitest';
import { cohortCells, CONTRIBUTION_CAP, releaseCells, releasePlan, RELEASE_DELTA, THRESHOLD_SHARE, type Cell, type Metrics } from './cohorts.ts';
import { laplaceNoise } from './noise.ts';

/** A fixed, evenly spread sequence of uniforms in (0, 1) (Lehmer), so statistical checks are deterministic. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 48271) % 2147483647) / 2147483647;
}

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
    expect(cohortCells(map, 10).map((shown) => shown.metric)).toEqual(['typed-vocabulary.git']);
  });
});

describe('Laplace noise', () => {
  it('is symmetric around zero with the requested scale (mean absolute value ≈ scale)', () => {
    const uniform = seeded(1);
    const samples = Array.from({ length: 20_000 }, () => laplaceNoise(2, uniform));
    const mean = samples.reduce((sum, value) => sum + value, 0) / samples.length;
    const meanAbsolute = samples.reduce((sum, value) => sum + Math.abs(value), 0) / samples.length;
    expect(Math.abs(mean)).toBeLessThan(0.1);
    expect(meanAbsolute).toBeGreaterThan(1.9);
    expect(meanAbsolute).toBeLessThan(2.1);
  });
});

const cell = (participants: number, total = participants * 10): Cell => ({ metric: 'keyboard-activity.keyCount', participants, total });

/** How often a lone cell of `participants` is released over `runs` draws from one seeded stream. */
function releaseRate(participants: number, k: number, epsilon: number, runs: number): number {
  const uniform = seeded(7);
  let released = 0;
  for (let run = 0; run < runs; run += 1) released += releaseCells([cell(participants)], k, epsilon, 1, uniform).length;
  return released / runs;
}

describe('the noisy release threshold', () => {
  it.each([
    [5, 1],
    [10, 1],
    [10, 0.1],
    [50, 4],
  ])('puts τ where a cell of k − 1 clears it with probability δ (k = %i, ε = %d)', (k, epsilon) => {
    const plan = releasePlan(k, epsilon, 3);
    expect(plan.countScale).toBeCloseTo(3 / (epsilon * THRESHOLD_SHARE), 9);
    // P(Lap(b) > τ − (k − 1)) = ½·exp(−(τ − k + 1) / b) for Laplace noise of scale b.
    expect(0.5 * Math.exp(-(plan.threshold - (k - 1)) / plan.countScale)).toBeCloseTo(RELEASE_DELTA, 12);
    expect(plan.totalScale).toBeCloseTo((CONTRIBUTION_CAP * 3) / (epsilon * (1 - THRESHOLD_SHARE)), 6);
  });

  it('never releases a cell of k − 1 participants, over 100 000 seeded draws', () => {
    expect(releaseRate(9, 10, 1, 100_000)).toBe(0);
    expect(releaseRate(4, 5, 10, 100_000)).toBe(0);
  });

  it('never releases a cell under k even when its noisy count clears τ (the hard floor)', () => {
    // A uniform just under 1 draws noise far above τ − (k − 1); only the floor keeps the cell out.
    const huge = () => 1 - 1e-15;
    expect(releaseCells([cell(9)], 10, 1, 1, huge)).toEqual([]);
    expect(releaseCells([cell(10)], 10, 1, 1, huge)).toHaveLength(1);
  });

  it('decides by noise, not by a step at k: the release rate climbs from k through τ and is all but certain well past it', () => {
    const k = 10;
    const { threshold, countScale } = releasePlan(k, 1, 1);
    const counts = [k, Math.round(threshold) - 3, Math.round(threshold), Math.round(threshold) + 3, Math.ceil(threshold + 12 * countScale)];
    const rates = counts.map((count) => releaseRate(count, k, 1, 20_000));
    for (let index = 1; index < rates.length; index += 1) expect(rates[index]).toBeGreaterThan(rates[index - 1] ?? 1);
    expect(rates[0]).toBeLessThan(0.001);
    expect(rates[2]).toBeGreaterThan(0.3);
    expect(rates[2]).toBeLessThan(0.7);
    expect(rates[4]).toBe(1);
  });
});

describe('differencing two releases', () => {
  const k = 10;
  const epsilon = 1;
  const runs = 200_000;
  const bucketWidth = CONTRIBUTION_CAP;

  /**
   * Outcome frequencies of one release over `runs` seeded draws, bucketed as "not released" or the
   * noisy total's offset from `origin` in steps of the clip, which is what an observer could compare.
   */
  function outcomes(world: ReadonlyMap<string, Metrics>, release: (cells: Cell[], uniform: () => number) => { noisyTotal: number }[], origin: number, seed: number) {
    const uniform = seeded(seed);
    const cells = cohortCells(world, k);
    const counts = new Map<string, number>();
    for (let run = 0; run < runs; run += 1) {
      const [shown] = release(cells, uniform);
      const bucket = shown ? `total ${Math.floor((shown.noisyTotal - origin) / bucketWidth)}` : 'not released';
      counts.set(bucket, (counts.get(bucket) ?? 0) + 1);
    }
    return counts;
  }

  /** The largest ratio of an outcome's frequency between the two worlds, over outcomes seen at least `minHits` times in either. */
  function worstRatio(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>, minHits: number): number {
    let worst = 1;
    for (const bucket of new Set([...a.keys(), ...b.keys()])) {
      const [x, y] = [a.get(bucket) ?? 0, b.get(bucket) ?? 0];
      if (Math.max(x, y) < minHits) continue;
      worst = Math.max(worst, Math.max(x, y) / Math.min(x, y));
    }
    return worst;
  }

  // Two worlds identical but for one participant, who contributes the clip; the cell sits just under τ,
  // where the threshold's likelihood ratio is at its largest (exactly e^(ε/2) below τ).
  const { threshold } = releasePlan(k, epsilon, 1);
  const base = Math.floor(threshold) - 1;
  const without = people(base, { 'keyboard-activity.keyCount': 10 });
  const withThem = new Map(without).set('extra', { 'keyboard-activity.keyCount': 1_000_000 });
  const noisy = (cells: Cell[], uniform: () => number) => releaseCells(cells, k, epsilon, 1, uniform);

  // Tolerance: buckets count ≥ 2 000 hits, so each frequency's relative standard error is ≤ 1/√2000 ≈ 2.2 %
  // and the ratio's ≤ 3.2 %; 15 % above the bound is more than four standard errors.
  const tolerance = 1.15;
  const minHits = 2_000;

  it('shows whether the borderline cell appears with likelihood ratio within e^(ε/2) between the worlds', () => {
    const a = outcomes(without, noisy, base * 10, 11);
    const b = outcomes(withThem, noisy, base * 10, 12);
    const shown = (counts: ReadonlyMap<string, number>) => runs - (counts.get('not released') ?? 0);
    const ratios = [shown(b) / shown(a), (a.get('not released') ?? 0) / (b.get('not released') ?? 1)];
    for (const ratio of ratios) expect(ratio).toBeLessThan(Math.exp(epsilon * THRESHOLD_SHARE) * tolerance);
    // The borderline cell is really borderline: it is released often enough in both worlds to measure.
    expect(shown(a)).toBeGreaterThan(runs / 10);
  });

  it('bounds the likelihood ratio of every outcome (which cells, which noisy total) by e^ε between the worlds', () => {
    const a = outcomes(without, noisy, base * 10, 21);
    const b = outcomes(withThem, noisy, base * 10, 22);
    expect(worstRatio(a, b, minHits)).toBeLessThan(Math.exp(epsilon) * tolerance);
    expect(a.size).toBeGreaterThan(5);
  });

  it('catches the differencing an exact threshold at k allows, so the check above can fail', () => {
    const small = people(k - 1, { 'keyboard-activity.keyCount': 10 });
    const joined = new Map(small).set('extra', { 'keyboard-activity.keyCount': 10 });
    const exact = (cells: Cell[], uniform: () => number) => {
      const { totalScale } = releasePlan(k, epsilon, cells.length);
      return cells.map((shown) => ({ noisyTotal: shown.total + laplaceNoise(totalScale, uniform) }));
    };
    const ratio = worstRatio(outcomes(small, exact, 0, 31), outcomes(joined, exact, 0, 32), minHits);
    expect(ratio).toBe(Number.POSITIVE_INFINITY);
    expect(worstRatio(outcomes(small, noisy, 0, 31), outcomes(joined, noisy, 0, 32), minHits)).toBeLessThan(1.001);
  });
});
