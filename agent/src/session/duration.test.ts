import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.ts';

describe('durations', () => {
  it.each([
    ['45m', 45 * 60_000],
    ['2h', 2 * 3_600_000],
    ['1h30m', 90 * 60_000],
    ['90s', 90_000],
    ['1h0m5s', 3_605_000],
  ])('parse %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([['0m', /longer than zero/], ['a while', /duration like 45m/], ['-5m', /duration like 45m/], ['', /duration like 45m/]])('refuse %j', (text, message) => {
    expect(() => parseDuration(text)).toThrow(message);
  });

  it.each([
    [20 * 60_000 - 1000, '20m'],
    [45 * 60_000, '45m'],
    [90 * 60_000, '1h30m'],
    [2 * 3_600_000, '2h'],
    [30_000, '30s'],
    [-5, '0s'],
  ])('show %i ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
