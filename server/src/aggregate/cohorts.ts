/** Turning opened windows into per-participant metric sums, and those into cohort cells. */
import type { WindowAggregate } from '@candor/shared/schemas/window';
import { assertNever } from '@candor/shared/errors';

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
 * Sums clipped per-participant totals per metric and keeps only cells with at least k
 * distinct participants: a smaller cell is never written where the API server can read it.
 */
export function cohortCells(perParticipant: ReadonlyMap<string, Metrics>, k: number): Cell[] {
  const cells = new Map<string, { participants: number; total: number }>();
  for (const metrics of perParticipant.values()) {
    for (const [metric, value] of Object.entries(metrics)) {
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
