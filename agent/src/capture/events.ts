/**
 * Input events as they exist in memory between the hook and the redaction step. Raw key
 * identities live only here (privacy invariant 2): these types are never serialised to disk,
 * logs or the network. The replay source reads the same shape from `seeds/recordings/`.
 */

/** Modifier state at the moment of the event. */
export type Modifiers = { shift: boolean; ctrl: boolean; alt: boolean; meta: boolean };

export type KeyEvent = {
  kind: 'key-down' | 'key-up';
  /** Milliseconds since the Unix epoch. */
  time: number;
  /** uiohook-napi's keycode (a libuiohook virtual code, layout independent). */
  keycode: number;
  modifiers: Modifiers;
};

export type PointerEvent =
  | { kind: 'mouse-move'; time: number; x: number; y: number }
  | { kind: 'mouse-down' | 'mouse-up'; time: number; x: number; y: number; button: number }
  | { kind: 'wheel'; time: number; rotation: number; direction: 'vertical' | 'horizontal' };

export type InputEvent = KeyEvent | PointerEvent;

/** The foreground application, as resolved for one batch of events. */
export type AppContext = {
  /** WM_CLASS (class part) on X11; null when it could not be resolved. */
  windowClass: string | null;
  /** The window title, for the context filter and redaction only: it never leaves them. */
  windowTitle: string | null;
  screen: { width: number; height: number };
};

/** Events of one foreground context, in time order, handed from capture to redaction. */
export type ContextBatch = { context: AppContext; events: readonly InputEvent[] };
