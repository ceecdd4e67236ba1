/**
 * What a physical key means, in memory only. uiohook reports libuiohook virtual codes, which
 * name physical positions (the key right of Tab is 16 on every layout); the layout turns a
 * position plus Shift, Caps Lock and AltGr into the character a person sees.
 */
import type { KeyClass } from '@candor/shared/schemas/window';

export const KEYBOARD_LAYOUTS = ['us-qwerty', 'de-qwertz', 'fr-azerty'] as const;
export type KeyboardLayout = (typeof KEYBOARD_LAYOUTS)[number];

// Physical rows as libuiohook codes, left to right. 3654 is the ISO key between left Shift
// and Z (VC_LESSER_GREATER), absent from uiohook-napi's UiohookKey table.
const ROW_1 = [41, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
const ROW_2 = [16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 43];
const ROW_3 = [30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40];
const ROW_4 = [3654, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53];
const ROWS = [ROW_1, ROW_2, ROW_3, ROW_4];

/** One layout: per row, the unshifted and shifted characters (`\0` for none), AltGr extras, dead keys. */
type LayoutSpec = { base: string[]; shift: string[]; altGr: Record<number, string>; dead: string };

const SPECS: Record<KeyboardLayout, LayoutSpec> = {
  'us-qwerty': {
    base: ['`1234567890-=', "qwertyuiop[]\\", "asdfghjkl;'", '\\zxcvbnm,./'],
    shift: ['~!@#$%^&*()_+', 'QWERTYUIOP{}|', 'ASDFGHJKL:"', '|ZXCVBNM<>?'],
    altGr: {},
    dead: '',
  },
  'de-qwertz': {
    base: ['^1234567890ß´', 'qwertzuiopü+#', 'asdfghjklöä', '<yxcvbnm,.-'],
    shift: ['°!"§$%&/()=?`', "QWERTZUIOPÜ*'", 'ASDFGHJKLÖÄ', '>YXCVBNM;:_'],
    altGr: { 3: '²', 4: '³', 8: '{', 9: '[', 10: ']', 11: '}', 12: '\\', 16: '@', 18: '€', 27: '~', 3654: '|', 50: 'µ' },
    dead: '^´`',
  },
  'fr-azerty': {
    base: ['²&é"\'(-è_çà)=', 'azertyuiop^$*', 'qsdfghjklmù', '<wxcvbn,;:!'],
    shift: ['\u00001234567890°+', 'AZERTYUIOP¨£µ', 'QSDFGHJKLM%', '>WXCVBN?./§'],
    altGr: { 3: '~', 4: '#', 5: '{', 6: '[', 7: '|', 8: '`', 9: '\\', 10: '^', 11: '@', 12: ']', 13: '}', 18: '€', 27: '¤' },
    dead: '^¨~`',
  },
};

/** Keys that are not characters, by what they do. */
export const KEYS = {
  escape: 1,
  backspace: 14,
  tab: 15,
  enter: 28,
  numpadEnter: 3612,
  space: 57,
  capsLock: 58,
  delete: 3667,
  insert: 3666,
  home: 3655,
  end: 3663,
  pageUp: 3657,
  pageDown: 3665,
  left: 57419,
  right: 57421,
  up: 57416,
  down: 57424,
  altRight: 3640,
} as const;

const MODIFIER_KEYS = new Set([29, 3613, 56, 3640, 42, 54, 3675, 3676, 58, 69, 70]);
const NAVIGATION_KEYS = new Set([3655, 3663, 3657, 3665, 57419, 57421, 57416, 57424, 3666, 60999, 61000, 61001, 61003, 61005, 61007, 61008, 61009, 61010]);
const NUMPAD_DIGITS = new Map([[82, '0'], [79, '1'], [80, '2'], [81, '3'], [75, '4'], [76, '5'], [77, '6'], [71, '7'], [72, '8'], [73, '9']]);
const NUMPAD_SYMBOLS = new Map([[55, '*'], [78, '+'], [74, '-'], [83, '.'], [3637, '/']]);

/** Names for shortcuts of keys that are not characters (the ShortcutName vocabulary). */
const NAMED_KEYS = new Map<number, string>([
  [1, 'Escape'], [14, 'Backspace'], [15, 'Tab'], [28, 'Enter'], [3612, 'Enter'], [57, 'Space'], [3667, 'Delete'], [3666, 'Insert'],
  [3655, 'Home'], [3663, 'End'], [3657, 'PageUp'], [3665, 'PageDown'], [57419, 'Left'], [57421, 'Right'], [57416, 'Up'], [57424, 'Down'],
  ...[59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 87, 88].map((code, index): [number, string] => [code, `F${index + 1}`]),
  ...[91, 92, 93, 99, 100, 101, 102, 103, 104, 105, 106, 107].map((code, index): [number, string] => [code, `F${index + 13}`]),
]);
const SHORTCUT_CHARACTERS = /^[A-Z0-9\-=[\]\\;',./`]$/;

export type KeyMeaning = {
  /** The class when typed without Shift, and with it (a digit on AZERTY needs Shift). */
  classes: readonly [KeyClass, KeyClass];
  /** Characters without and with Shift, and with AltGr; '' when the key types nothing. */
  base: string;
  shifted: string;
  altGr: string;
  /** The key's part of a shortcut name (`P`, `F5`, `Left`), or '' for modifiers. */
  shortcutKey: string;
};

function classOfCharacter(char: string): KeyClass {
  if (char === '') return 'function';
  if (/\p{L}/u.test(char)) return 'letter';
  if (/\p{Nd}/u.test(char)) return 'digit';
  return 'punctuation';
}

function meaningWithoutCharacter(keycode: number): KeyMeaning {
  let keyClass: KeyClass = 'function';
  if (keycode === KEYS.backspace || keycode === KEYS.delete) keyClass = 'backspace';
  else if (keycode === KEYS.enter || keycode === KEYS.numpadEnter) keyClass = 'enter';
  else if (keycode === KEYS.tab || keycode === KEYS.space) keyClass = 'whitespace';
  else if (MODIFIER_KEYS.has(keycode)) keyClass = 'modifier';
  else if (NAVIGATION_KEYS.has(keycode)) keyClass = 'navigation';
  const base = keycode === KEYS.space ? ' ' : '';
  return { classes: [keyClass, keyClass], base, shifted: base, altGr: '', shortcutKey: NAMED_KEYS.get(keycode) ?? '' };
}

/** A layout's meaning of every key, built once. */
export class Keymap {
  readonly layout: KeyboardLayout;
  readonly deadKeys: string;
  readonly hasAltGr: boolean;
  #keys = new Map<number, KeyMeaning>();

  constructor(layout: KeyboardLayout) {
    this.layout = layout;
    const spec = SPECS[layout];
    this.deadKeys = spec.dead;
    this.hasAltGr = Object.keys(spec.altGr).length > 0;
    ROWS.forEach((row, rowIndex) => {
      const base = Array.from(spec.base[rowIndex] ?? ''); // one code point per key
      const shift = Array.from(spec.shift[rowIndex] ?? '');
      row.forEach((keycode, index) => {
        const plain = (base[index] ?? '').replace('\0', '');
        const shifted = (shift[index] ?? '').replace('\0', '');
        // Ctrl+1 on AZERTY is the key that types 1 with Shift.
        const nameable = [plain.toUpperCase(), shifted.toUpperCase()].find((char) => SHORTCUT_CHARACTERS.test(char)) ?? '';
        this.#keys.set(keycode, {
          classes: [classOfCharacter(plain), classOfCharacter(shifted)],
          base: plain,
          shifted,
          altGr: spec.altGr[keycode] ?? '',
          shortcutKey: nameable,
        });
      });
    });
    for (const [keycode, digit] of NUMPAD_DIGITS) {
      this.#keys.set(keycode, { classes: ['digit', 'digit'], base: digit, shifted: digit, altGr: '', shortcutKey: '' });
    }
    for (const [keycode, symbol] of NUMPAD_SYMBOLS) {
      this.#keys.set(keycode, { classes: ['punctuation', 'punctuation'], base: symbol, shifted: symbol, altGr: '', shortcutKey: '' });
    }
  }

  /** What a key means on this layout; keys it does not know are function keys that type nothing. */
  meaningOf(keycode: number): KeyMeaning {
    let meaning = this.#keys.get(keycode);
    if (meaning === undefined) {
      meaning = meaningWithoutCharacter(keycode);
      this.#keys.set(keycode, meaning);
    }
    return meaning;
  }

  /** The key and modifiers that type `char` on this layout (for replaying text as keys), if any. */
  keyFor(char: string): { keycode: number; shift: boolean; altGr: boolean } | undefined {
    if (char === ' ') return { keycode: KEYS.space, shift: false, altGr: false };
    for (const [keycode, meaning] of this.#keys) {
      if (meaning.base === char) return { keycode, shift: false, altGr: false };
      if (meaning.shifted === char) return { keycode, shift: true, altGr: false };
      if (meaning.altGr === char) return { keycode, shift: false, altGr: true };
    }
    return undefined;
  }

  /**
   * The character a key types given Shift, Caps Lock and AltGr. Caps Lock shifts letters
   * only, as on every desktop.
   */
  characterOf(meaning: KeyMeaning, shift: boolean, capsLock: boolean, altGr: boolean): string {
    if (altGr) return meaning.altGr;
    const isLetter = meaning.classes[0] === 'letter' && meaning.shifted === meaning.base.toUpperCase();
    return (isLetter ? shift !== capsLock : shift) ? meaning.shifted : meaning.base;
  }
}

/** A shortcut's name in the shared ShortcutName form, or '' when the key cannot be named. */
export function shortcutName(meaning: KeyMeaning, ctrl: boolean, alt: boolean, shift: boolean, meta: boolean): string {
  if (meaning.shortcutKey === '') return '';
  return `${ctrl ? 'Ctrl+' : ''}${alt ? 'Alt+' : ''}${shift ? 'Shift+' : ''}${meta ? 'Meta+' : ''}${meaning.shortcutKey}`;
}
