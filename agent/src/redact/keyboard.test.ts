import { describe, expect, it } from 'vitest';
import { KEYBOARD_LAYOUTS, Keymap, shortcutName, type KeyboardLayout } from './keyboard.ts';
import { composeDead } from './typing.ts';

const Q_POSITION = 16;
const Y_POSITION = 21;
const DIGIT_2_POSITION = 3;
const SEMICOLON_POSITION = 39;

describe('Keymap', () => {
  it.each([
    ['us-qwerty', Y_POSITION, false, false, 'y'],
    ['de-qwertz', Y_POSITION, false, false, 'z'],
    ['fr-azerty', Q_POSITION, false, false, 'a'],
    ['fr-azerty', SEMICOLON_POSITION, false, false, 'm'],
    ['us-qwerty', DIGIT_2_POSITION, false, false, '2'],
    ['us-qwerty', DIGIT_2_POSITION, true, false, '@'],
    ['de-qwertz', DIGIT_2_POSITION, true, false, '"'],
    ['fr-azerty', DIGIT_2_POSITION, false, false, 'é'],
    ['fr-azerty', DIGIT_2_POSITION, true, false, '2'],
    ['de-qwertz', Q_POSITION, false, true, '@'],
    ['fr-azerty', 11, false, true, '@'],
    ['us-qwerty', Q_POSITION, false, true, ''],
  ] as const)('on %s, key %i with shift=%s altGr=%s types %j', (layout, keycode, shift, altGr, expected) => {
    const keymap = new Keymap(layout);
    expect(keymap.characterOf(keymap.meaningOf(keycode), shift, false, altGr)).toBe(expected);
  });

  it('lets Caps Lock shift letters only, and Shift undo it', () => {
    const keymap = new Keymap('us-qwerty');
    expect(keymap.characterOf(keymap.meaningOf(Q_POSITION), false, true, false)).toBe('Q');
    expect(keymap.characterOf(keymap.meaningOf(Q_POSITION), true, true, false)).toBe('q');
    expect(keymap.characterOf(keymap.meaningOf(DIGIT_2_POSITION), false, true, false)).toBe('2');
  });

  it.each(KEYBOARD_LAYOUTS.map((layout) => [layout]))('on %s, every character it can type maps back to a key that types it', (layout: KeyboardLayout) => {
    const keymap = new Keymap(layout);
    const printable = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 @-_./:=';
    for (const char of printable) {
      const key = keymap.keyFor(char);
      expect(key, `${layout} types ${char}`).toBeDefined();
      if (key === undefined) continue;
      expect(keymap.characterOf(keymap.meaningOf(key.keycode), key.shift, false, key.altGr)).toBe(char);
    }
  });

  it('classes keys by what they type on the layout', () => {
    expect(new Keymap('us-qwerty').meaningOf(DIGIT_2_POSITION).classes).toEqual(['digit', 'punctuation']);
    expect(new Keymap('fr-azerty').meaningOf(DIGIT_2_POSITION).classes).toEqual(['letter', 'digit']);
    expect(new Keymap('us-qwerty').meaningOf(14).classes).toEqual(['backspace', 'backspace']);
    expect(new Keymap('us-qwerty').meaningOf(29).classes).toEqual(['modifier', 'modifier']);
    expect(new Keymap('us-qwerty').meaningOf(57419).classes).toEqual(['navigation', 'navigation']);
  });

  it('names shortcuts in the shared canonical order', () => {
    const keymap = new Keymap('us-qwerty');
    expect(shortcutName(keymap.meaningOf(25), true, false, true, false)).toBe('Ctrl+Shift+P');
    expect(shortcutName(keymap.meaningOf(15), false, true, false, false)).toBe('Alt+Tab');
    expect(shortcutName(keymap.meaningOf(63), false, false, false, false)).toBe('F5');
    expect(shortcutName(keymap.meaningOf(29), true, false, false, false)).toBe('');
  });
});

describe('composeDead', () => {
  it.each([
    ['^', 'e', 'ê'],
    ['´', 'a', 'á'],
    ['`', 'e', 'è'],
    ['¨', 'u', 'ü'],
    ['^', ' ', '^'],
    ['^', 'x', '^x'],
  ])('%s then %s gives %s', (dead, char, expected) => {
    expect(composeDead(dead, char)).toBe(expected);
  });
});
