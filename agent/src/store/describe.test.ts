import { describe, expect, it } from 'vitest';
import type { SignalAggregate } from '@candor/shared/schemas/window';
import { describeAggregate, describeWindow } from './describe.ts';
import { sampleWindow } from './sample-windows.ts';

const zeros = (length: number) => Array<number>(length).fill(0);

describe('describing what a window would send', () => {
  it.each<[string, SignalAggregate, string]>([
    ['keyboard activity', { signal: 'keyboard-activity', keyCount: 412, correctionCount: 1, typingSpeed: zeros(8), pauses: zeros(8) }, '412 keys, 1 correction, typing-speed and pause histograms'],
    ['shortcuts, most used first', { signal: 'shortcuts', counts: { 'Ctrl+S': 1, 'Ctrl+C': 2 } }, '3 shortcuts (Ctrl+C ×2, Ctrl+S ×1)'],
    ['no shortcuts', { signal: 'shortcuts', counts: {} }, 'no shortcuts'],
    ['app time in minutes and seconds', { signal: 'app-usage', seconds: { terminal: 720, editor: 40 } }, '12 min in terminal, 40 s in editor'],
    ['typed words', { signal: 'typed-vocabulary', counts: { git: 4, rebase: 1 } }, '5 typed words (git ×4, rebase ×1)'],
    ['key classes without the zero ones', { signal: 'key-classes', counts: { letter: 80, digit: 0, punctuation: 0, whitespace: 15, enter: 0, backspace: 0, navigation: 0, modifier: 0, function: 0 } }, 'keys by class: 80 letter, 15 whitespace'],
    ['mouse activity', { signal: 'mouse-activity', clicks: { left: 10, right: 1, middle: 0, other: 0 }, scrollTicks: 1, distance: zeros(7), speed: zeros(6) }, '11 clicks, 1 scroll tick, distance and speed histograms'],
  ])('describes %s', (_, aggregate, text) => {
    expect(describeAggregate(aggregate)).toBe(text);
  });

  it('names the window by its length and start in the given time zone', () => {
    expect(describeWindow(sampleWindow(41), 'UTC')).toBe('15 min from 10:15: 3 shortcuts (Ctrl+C ×2, Ctrl+S ×1)');
    expect(describeWindow(sampleWindow(41), 'Europe/Berlin')).toMatch(/^15 min from 11:15: /);
  });
});
