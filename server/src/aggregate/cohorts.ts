/** Turning opened windows into per-participant metric sums, and those into cohort cells. */
import type { StudyVersion } from '@candor/shared/schemas/study';
import { HISTOGRAM_EDGES, KEY_CLASSES, type WindowAggregate } from '@candor/shared/schemas/window';
import { assertNever } from '@candor/shared/errors';
import { laplaceNoise } from './noise.ts';

/** One participant's contribution to any one cell is clipped here, bounding the sensitivity of a release. */
export const CONTRIBUTION_CAP = 1000;

export type Metrics = Record<string, number>;

function add(metrics: Metrics, name: string, value: number): void {
  if (value !== 0) metrics[name] = (metrics[name] ?? 0) + value;
}

export function metricsOfWindows(windows: readonly WindowAggregate[]): Metrics {
  const metrics: Metrics = {};
  for (const { aggregate } of windows) {
    const signal = aggregate.signal;
    switch (signal) {
      case 'keyboard-activity':
        add(metrics, `${signal}.keyCount`, aggregate.keyCount);
        add(metrics, `${signal}.correctionCount`, aggregate.correctionCount);
        aggregate.typingSpeed.forEach((count, bucket) => { add(metrics, `${signal}.typingSpeed.${bucket}`, count); });
        aggregate.pauses.forEach((count, bucket) => { add(metrics, `${signal}.pauses.${bucket}`, count); });
        break;
      case 'key-classes':
        for (const [name, count] of Object.entries(aggregate.counts)) add(metrics, `${signal}.${name}`, count);
        break;
      case 'shortcuts':
        for (const [name, count] of Object.entries(aggregate.counts)) add(metrics, `${signal}.${name}`, count);
        break;
      case 'mouse-activity':
        for (const [button, count] of Object.entries(aggregate.clicks)) add(metrics, `${signal}.clicks.${button}`, count);
        add(metrics, `${signal}.scrollTicks`, aggregate.scrollTicks);
        aggregate.distance.forEach((count, bucket) => { add(metrics, `${signal}.distance.${bucket}`, count); });
        aggregate.speed.forEach((count, bucket) => { add(metrics, `${signal}.speed.${bucket}`, count); });
        break;
      case 'app-usage':
        for (const [label, seconds] of Object.entries(aggregate.seconds)) add(metrics, `${signal}.${label}`, seconds);
        break;
      case 'typed-vocabulary':
        for (const [token, count] of Object.entries(aggregate.counts)) add(metrics, `${signal}.${token}`, count);
        break;
      default:
        assertNever(aggregate, 'signal');
    }
  }
  return metrics;
}

export type Cell = { metric: string; participants: number; total: number };

/**
 * Signals whose cells are named by the data (shortcuts, app labels, typed tokens) add at most
 * this many cells per participant to a release, their largest: without a bound, one person
 * typing many rare words could be in arbitrarily many cells, and no noise scale would cover them.
 */
export const OPEN_CELLS_PER_PARTICIPANT = 20;

const OPEN_SIGNALS = ['shortcuts', 'app-usage', 'typed-vocabulary'] as const;

/** Cells a fixed-shape signal always has, from the shared window schema. */
const FIXED_CELLS = {
  'keyboard-activity': 2 + HISTOGRAM_EDGES.typingSpeedKpm.length + 1 + HISTOGRAM_EDGES.pauseMs.length + 1,
  'key-classes': KEY_CLASSES.length,
  'mouse-activity': 4 + 1 + HISTOGRAM_EDGES.mouseDistanceSteps.length + 1 + HISTOGRAM_EDGES.mouseSpeedDiagonalsPerSecond.length + 1,
} as const;

/**
 * The most cells one participant can be counted in, fixed by what was consented to (every version
 * whose data may be in the cells) and never by the data: were it counted from the cells present, one
 * participant opening a new cell would change every cell's noise scale, which a release would show.
 */
export function cellsPerParticipant(versions: readonly StudyVersion[]): number {
  const signals = new Set(versions.flatMap((version) => version.signals));
  const shortcuts = new Set(versions.flatMap((version) => version.shortcuts));
  // An empty allowlist means every app that is not denied: labels are then open-ended.
  const openApps = versions.some((version) => version.signals.includes('app-usage') && version.apps.allow.length === 0);
  const appLabels = new Set(versions.flatMap((version) => version.apps.allow.map((app) => app.label)));
  let cells = 0;
  for (const signal of signals) {
    switch (signal) {
      case 'keyboard-activity':
      case 'key-classes':
      case 'mouse-activity':
        cells += FIXED_CELLS[signal];
        break;
      case 'shortcuts':
        cells += Math.min(shortcuts.size, OPEN_CELLS_PER_PARTICIPANT);
        break;
      case 'app-usage':
        cells += openApps ? OPEN_CELLS_PER_PARTICIPANT : Math.min(appLabels.size, OPEN_CELLS_PER_PARTICIPANT);
        break;
      case 'typed-vocabulary':
        cells += OPEN_CELLS_PER_PARTICIPANT;
        break;
      default:
        assertNever(signal, 'signal');
    }
  }
  return cells;
}

/** One participant's metrics with each open-ended signal cut to its OPEN_CELLS_PER_PARTICIPANT largest cells (ties by name). */
export function boundContribution(metrics: Metrics): Metrics {
  const bounded: Metrics = {};
  const open = new Map<string, [string, number][]>(OPEN_SIGNALS.map((signal) => [signal, []]));
  for (const [metric, value] of Object.entries(metrics)) {
    const entries = open.get(metric.slice(0, metric.indexOf('.')));
    if (entries) entries.push([metric, value]);
    else bounded[metric] = value;
  }
  for (const entries of open.values()) {
    entries.sort(([nameA, a], [nameB, b]) => b - a || (nameA < nameB ? -1 : 1));
    for (const [metric, value] of entries.slice(0, OPEN_CELLS_PER_PARTICIPANT)) bounded[metric] = value;
  }
  return bounded;
}

/**
 * Sums clipped, bounded per-participant totals per metric and keeps only cells with at least k
 * distinct participants: a smaller cell is never written where the API server can read it.
 */
export function cohortCells(perParticipant: ReadonlyMap<string, Metrics>, k: number): Cell[] {
  const cells = new Map<string, { participants: number; total: number }>();
  for (const metrics of perParticipant.values()) {
    for (const [metric, value] of Object.entries(boundContribution(metrics))) {
      const cell = cells.get(metric) ?? { participants: 0, total: 0 };
      cell.participants += 1;
      cell.total += Math.min(value, CONTRIBUTION_CAP);
      cells.set(metric, cell);
    }
  }
  return [...cells]
    .filter(([, cell]) => cell.participants >= k)
    .map(([metric, cell]) => ({ metric, ...cell }))
    .sort((a, b) => (a.metric < b.metric ? -1 : 1));
}

/** Share of each release's ε spent on deciding which cells appear; the rest noises their totals. */
export const THRESHOLD_SHARE = 0.5;
/** Per cell, the most a cell with fewer than k participants may be released with, were there no hard floor. */
export const RELEASE_DELTA = 1e-6;

export type ReleasePlan = { countScale: number; threshold: number; totalScale: number };

/**
 * The noise scales and threshold for one release where one participant can be in at most `cells`
 * cells (`cellsPerParticipant`), in each at most once (count sensitivity 1, total sensitivity
 * CONTRIBUTION_CAP), so each half of ε is split evenly over those cells. τ = (k − 1) + b·ln(1 / 2δ):
 * a cell of k − 1 clears it with probability P(Lap(b) > b·ln(1 / 2δ)) = δ.
 */
export function releasePlan(k: number, epsilon: number, cells: number): ReleasePlan {
  const spread = Math.max(cells, 1);
  const countScale = spread / (epsilon * THRESHOLD_SHARE);
  return {
    countScale,
    threshold: k - 1 + countScale * Math.log(1 / (2 * RELEASE_DELTA)),
    totalScale: (CONTRIBUTION_CAP * spread) / (epsilon * (1 - THRESHOLD_SHARE)),
  };
}

export type ReleasedCell = { metric: string; noisyTotal: number };

/**
 * Which cells one release shows, and their noisy totals: a cell appears only if its exact count is
 * at least k (a hard floor) and its count plus Laplace noise clears the threshold τ, so whether one
 * person moves a cell across the line is itself covered by ε. `perParticipant` comes from
 * `cellsPerParticipant`; `uniform` draws from (0, 1).
 */
export function releaseCells(cells: readonly Cell[], k: number, epsilon: number, perParticipant: number, uniform: () => number): ReleasedCell[] {
  const plan = releasePlan(k, epsilon, perParticipant);
  const released: ReleasedCell[] = [];
  for (const cell of cells) {
    const noisyCount = cell.participants + laplaceNoise(plan.countScale, uniform);
    if (cell.participants < k || noisyCount <= plan.threshold) continue;
    released.push({ metric: cell.metric, noisyTotal: Math.round(cell.total + laplaceNoise(plan.totalScale, uniform)) });
  }
  return released;
}
