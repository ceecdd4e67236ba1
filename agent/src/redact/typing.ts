/**
 * Rebuilds what a person types, in memory, the way their editor would show it: characters at
 * a cursor, Backspace and Delete, word deletion, cursor moves along the line, dead keys.
 * Anything whose effect on the text cannot be known from keys alone (a mouse click, Up or
 * Down, Tab completion, a paste, any other shortcut) ends the current stretch of text: what
 * was typed so far is handed on whole, and rebuilding starts again from empty.
 *
 * After a line that runs a command that may prompt for a password (`sudo`, `ssh`, `passwd`…),
 * the next lines are not rebuilt at all: their keys are not even held.
 */
import { KEYS } from './keyboard.ts';
import { startsPrompt } from './vocabulary.ts';

/** Longest stretch held before it is handed on, so held text stays bounded. */
const MAX_HELD_CHARACTERS = 512;

export type TypedKey = {
  keycode: number;
  /** The character the key types with the current Shift, Caps Lock and AltGr; '' for none. */
  char: string;
  /** Whether the character is a dead key waiting for the next one (`^` on QWERTZ). */
  dead: boolean;
  /** Shift held: with a cursor key it selects, and typing then replaces a selection keys cannot see. */
  shift: boolean;
  ctrl: boolean;
  /** Alt other than AltGr. */
  alt: boolean;
  meta: boolean;
  time: number;
};

export type PromptRules = { promptCommands: readonly string[]; linesAfterPrompt: number };

const SELECTING_KEYS = new Set<number>([KEYS.left, KEYS.right, KEYS.home, KEYS.end, KEYS.up, KEYS.down, KEYS.pageUp, KEYS.pageDown]);

const isWordChar = (char: string | undefined) => char !== undefined && /[\p{L}\p{N}_]/u.test(char);

export class LineRebuilder {
  readonly #rules: PromptRules;
  readonly #onText: (text: string, time: number) => void;
  #chars: string[] = [];
  #cursor = 0;
  #pendingDead = '';
  #lineRunsPromptCommand = false;
  #linesToSkip = 0;

  /** `onText` receives each finished stretch of text; it must not keep it. */
  constructor(rules: PromptRules, onText: (text: string, time: number) => void) {
    this.#rules = rules;
    this.#onText = onText;
  }

  /** Whether keys are currently being ignored because a password prompt may be showing. */
  get skipping(): boolean {
    return this.#linesToSkip > 0;
  }

  keyDown(key: TypedKey): void {
    const isEnter = key.keycode === KEYS.enter || key.keycode === KEYS.numpadEnter;
    if (this.#linesToSkip > 0) {
      if (isEnter) this.#linesToSkip -= 1;
      return;
    }
    if (key.ctrl || key.alt || key.meta) {
      this.#shortcut(key);
      return;
    }
    if (key.shift && SELECTING_KEYS.has(key.keycode)) {
      this.boundary(key.time);
      return;
    }
    switch (key.keycode) {
      case KEYS.enter:
      case KEYS.numpadEnter:
        this.#endLine(key.time);
        return;
      case KEYS.backspace:
        if (this.#cursor > 0) {
          this.#chars.splice(this.#cursor - 1, 1);
          this.#cursor -= 1;
        }
        return;
      case KEYS.delete:
        this.#chars.splice(this.#cursor, 1);
        return;
      case KEYS.left:
        this.#cursor = Math.max(0, this.#cursor - 1);
        return;
      case KEYS.right:
        this.#cursor = Math.min(this.#chars.length, this.#cursor + 1);
        return;
      case KEYS.home:
        this.#cursor = 0;
        return;
      case KEYS.end:
        this.#cursor = this.#chars.length;
        return;
      case KEYS.up:
      case KEYS.down:
      case KEYS.pageUp:
      case KEYS.pageDown:
      case KEYS.tab:
      case KEYS.escape:
      case KEYS.insert:
        this.boundary(key.time);
        return;
      default:
        this.#type(key);
    }
  }

  /** Ends the current stretch: the cursor moved somewhere keys cannot tell (a click, a focus change). */
  boundary(time: number): void {
    this.#pendingDead = '';
    if (this.#chars.length === 0) return;
    const text = this.#chars.join('');
    this.#chars = [];
    this.#cursor = 0;
    if (startsPrompt(text, this.#rules.promptCommands)) this.#lineRunsPromptCommand = true;
    this.#onText(text, time);
  }

  /** Drops held text without handing it on (`candor forget`); prompt state is kept. */
  discard(): void {
    this.#chars = [];
    this.#cursor = 0;
    this.#pendingDead = '';
  }

  #endLine(time: number): void {
    this.boundary(time);
    if (this.#lineRunsPromptCommand) this.#linesToSkip = this.#rules.linesAfterPrompt;
    this.#lineRunsPromptCommand = false;
  }

  #shortcut(key: TypedKey): void {
    const wordwise = key.ctrl || key.alt;
    if (wordwise && key.keycode === KEYS.backspace) {
      const end = this.#cursor;
      let start = end;
      while (start > 0 && !isWordChar(this.#chars[start - 1])) start -= 1;
      while (start > 0 && isWordChar(this.#chars[start - 1])) start -= 1;
      this.#chars.splice(start, end - start);
      this.#cursor = start;
    } else if (key.ctrl && key.keycode === KEYS.left) {
      while (this.#cursor > 0 && !isWordChar(this.#chars[this.#cursor - 1])) this.#cursor -= 1;
      while (this.#cursor > 0 && isWordChar(this.#chars[this.#cursor - 1])) this.#cursor -= 1;
    } else if (key.ctrl && key.keycode === KEYS.right) {
      while (this.#cursor < this.#chars.length && !isWordChar(this.#chars[this.#cursor])) this.#cursor += 1;
      while (this.#cursor < this.#chars.length && isWordChar(this.#chars[this.#cursor])) this.#cursor += 1;
    } else {
      // A paste, an undo, select-all, readline's kill commands: the text is no longer known.
      this.boundary(key.time);
    }
  }

  #type(key: TypedKey): void {
    if (key.char === '') return;
    if (key.dead && this.#pendingDead === '') {
      this.#pendingDead = key.char;
      return;
    }
    const text = this.#pendingDead === '' ? key.char : composeDead(this.#pendingDead, key.char);
    this.#pendingDead = '';
    for (const char of text) {
      this.#chars.splice(this.#cursor, 0, char);
      this.#cursor += 1;
    }
    if (this.#chars.length >= MAX_HELD_CHARACTERS) this.boundary(key.time);
  }
}

const COMBINING: Record<string, string> = { '^': '\u0302', '´': '\u0301', '`': '\u0300', '¨': '\u0308', '~': '\u0303' };

/** A dead key followed by `char`: the composed character, or both when they do not compose. */
export function composeDead(dead: string, char: string): string {
  if (char === ' ') return dead;
  const mark = COMBINING[dead];
  const composed = mark === undefined ? '' : (char + mark).normalize('NFC');
  return composed.length === 1 ? composed : dead + char;
}
