/**
 * What a stored window would send, in words a participant can check before it leaves:
 * "15 min from 10:15: 412 keys, 3 shortcuts (Ctrl+C ×2, Ctrl+S ×1)". Counts and labels only,
 * exactly what the upload carries.
 */
import { assertNever } from '@candor/shared/errors';
import type { SignalAggregate, WindowAggregate } from '@candor/shared/schemas/window';

function plural(count: number, one: string, many = `${one}s`): string {
  return `${String(count)} ${count === 1 ? one : many}`;
}

function tally(counts: Readonly<Record<string, number>>, noun: string, nouns?: string): string {
  const entries = Object.entries(counts)
    .filter(([, count]) => count > 0)
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1));
  const total = entries.reduce((sum, [, count]) => sum + count, 0);
  if (total === 0) return `no ${nouns ?? `${noun}s`}`;
  return `${plural(total, noun, nouns)} (${entries.map(([name, count]) => `${name} ×${String(count)}`).join(', ')})`;
}

function duration(seconds: number): string {
  return seconds < 60 ? `${String(seconds)} s` : `${String(Math.round(seconds / 60))} min`;
}

/** One signal's aggregate in words. */
export function describeAggregate(aggregate: SignalAggregate): string {
  switch (aggregate.signal) {
    case 'keyboard-activity':
      return `${plural(aggregate.keyCount, 'key')}, ${plural(aggregate.correctionCount, 'correction')}, typing-speed and pause histograms`;
    case 'key-classes': {
      const parts = Object.entries(aggregate.counts)
        .filter(([, count]) => count > 0)
        .map(([name, count]) => `${String(count)} ${name}`);
      return parts.length === 0 ? 'no keys by class' : `keys by class: ${parts.join(', ')}`;
    }
    case 'shortcuts':
      return tally(aggregate.counts, 'shortcut');
    case 'mouse-activity': {
      const clicks = Object.values(aggregate.clicks).reduce((sum, count) => sum + count, 0);
      return `${plural(clicks, 'click')}, ${plural(aggregate.scrollTicks, 'scroll tick')}, distance and speed histograms`;
    }
    case 'app-usage': {
      const apps = Object.entries(aggregate.seconds)
        .filter(([, seconds]) => seconds > 0)
        .sort(([, a], [, b]) => b - a);
      return apps.length === 0 ? 'no app time' : apps.map(([label, seconds]) => `${duration(seconds)} in ${label}`).join(', ');
    }
    case 'typed-vocabulary':
      return tally(aggregate.counts, 'typed word');
    default:
      return assertNever(aggregate, 'signal');
  }
}

/** The window's span and content, e.g. "15 min from 10:15: 412 keys, 7 corrections, …". */
export function describeWindow(window: WindowAggregate, timeZone?: string): string {
  const format = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', ...(timeZone === undefined ? {} : { timeZone }) });
  return `${String(window.windowMinutes)} min from ${format.format(new Date(window.windowStart))}: ${describeAggregate(window.aggregate)}`;
}
