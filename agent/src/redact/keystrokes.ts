/**
 * Text as the key events a person would make typing it on a given layout: for tests,
 * benchmarks and replaying a corpus through the pipeline. Characters the layout cannot type
 * directly are skipped.
 */
import type { KeyEvent, Modifiers } from '../capture/events.ts';
import { KEYS, Keymap, type KeyboardLayout } from './keyboard.ts';

const NO_MODIFIERS: Modifiers = { shift: false, ctrl: false, alt: false, meta: false };
const SHIFT_LEFT = 42;

export type Keystroke = number | { keycode: number; ctrl?: boolean; alt?: boolean; shift?: boolean; meta?: boolean };

/** Key-down and key-up events for `text` (`\n` is Enter), one key every `intervalMs` from `start`. */
export function keystrokesOf(text: string, layout: KeyboardLayout, start: number, intervalMs = 100): KeyEvent[] {
  const keymap = new Keymap(layout);
  const events: KeyEvent[] = [];
  let time = start;
  for (const char of text) {
    const key = char === '\n' ? { keycode: KEYS.enter, shift: false, altGr: false } : keymap.keyFor(char);
    if (key === undefined) continue;
    const modifiers: Modifiers = { ...NO_MODIFIERS, shift: key.shift, alt: key.altGr };
    if (key.shift) events.push({ kind: 'key-down', time, keycode: SHIFT_LEFT, modifiers: { ...NO_MODIFIERS, shift: true } });
    if (key.altGr) events.push({ kind: 'key-down', time, keycode: KEYS.altRight, modifiers: { ...NO_MODIFIERS, alt: true } });
    events.push({ kind: 'key-down', time, keycode: key.keycode, modifiers });
    events.push({ kind: 'key-up', time: time + 1, keycode: key.keycode, modifiers });
    if (key.altGr) events.push({ kind: 'key-up', time: time + 1, keycode: KEYS.altRight, modifiers: NO_MODIFIERS });
    if (key.shift) events.push({ kind: 'key-up', time: time + 1, keycode: SHIFT_LEFT, modifiers: NO_MODIFIERS });
    time += intervalMs;
  }
  return events;
}

/** Key-down and key-up events for keys by code, with modifiers held (shortcuts, Backspace, arrows). */
export function pressesOf(keys: readonly Keystroke[], start: number, intervalMs = 100): KeyEvent[] {
  return keys.flatMap((key, index) => {
    const { keycode, ...held } = typeof key === 'number' ? { keycode: key } : key;
    const modifiers: Modifiers = { ...NO_MODIFIERS, ...held };
    const time = start + index * intervalMs;
    return [
      { kind: 'key-down', time, keycode, modifiers },
      { kind: 'key-up', time: time + 1, keycode, modifiers },
    ] satisfies KeyEvent[];
  });
}
