/**
 * The live source: uiohook-napi's OS hook (XRecord on X11). `start` installs the hook and
 * `stop` removes it — capture outside a session is prevented by the hook not existing, not by
 * discarding what it reports.
 */
import type { UiohookKeyboardEvent, UiohookMouseEvent, UiohookWheelEvent } from 'uiohook-napi';
import { CandorError } from '@candor/shared/errors';
import { createForegroundResolver, type ForegroundResolver } from '../context/foreground.ts';
import type { InputEvent, Modifiers } from './events.ts';
import type { InputSource } from './source.ts';

type HookEvent = UiohookKeyboardEvent | UiohookMouseEvent | UiohookWheelEvent;

function modifiersOf(event: HookEvent): Modifiers {
  return { shift: event.shiftKey, ctrl: event.ctrlKey, alt: event.altKey, meta: event.metaKey };
}

function buttonOf(event: UiohookMouseEvent): number {
  return typeof event.button === 'number' ? event.button : 0;
}

// libuiohook's event types (uiohook-napi's EventType, which is a runtime enum of that module).
const KEY_PRESSED = 4;
const KEY_RELEASED = 5;
const MOUSE_PRESSED = 7;
const MOUSE_RELEASED = 8;
const MOUSE_MOVED = 9;
const MOUSE_DRAGGED = 10;
const MOUSE_WHEEL = 11;
const WHEEL_HORIZONTAL = 4;

/** The in-memory event for one hook event; clicks are dropped (down/up already say it). */
export function inputEventOf(event: HookEvent, time: number): InputEvent | null {
  const type: number = event.type;
  if (type === KEY_PRESSED || type === KEY_RELEASED) {
    const key = event as UiohookKeyboardEvent;
    return { kind: type === KEY_PRESSED ? 'key-down' : 'key-up', time, keycode: key.keycode, modifiers: modifiersOf(event) };
  }
  if (type === MOUSE_PRESSED || type === MOUSE_RELEASED) {
    const mouse = event as UiohookMouseEvent;
    return { kind: type === MOUSE_PRESSED ? 'mouse-down' : 'mouse-up', time, x: mouse.x, y: mouse.y, button: buttonOf(mouse) };
  }
  if (type === MOUSE_MOVED || type === MOUSE_DRAGGED) {
    const mouse = event as UiohookMouseEvent;
    return { kind: 'mouse-move', time, x: mouse.x, y: mouse.y };
  }
  if (type === MOUSE_WHEEL) {
    const wheel = event as UiohookWheelEvent;
    return { kind: 'wheel', time, rotation: wheel.rotation, direction: (wheel.direction as number) === WHEEL_HORIZONTAL ? 'horizontal' : 'vertical' };
  }
  return null;
}

/**
 * There is one OS hook per process; this is the one wrapper around it. uiohook-napi is loaded
 * here, not at import time, because libuiohook binds to the X display named by DISPLAY when it
 * loads (a display set later is ignored, and the hook then crashes on start).
 */
export async function createLiveSource(foreground: ForegroundResolver = createForegroundResolver()): Promise<InputSource> {
  const { uIOhook } = await import('uiohook-napi');
  let listener: ((event: HookEvent) => void) | null = null;
  return {
    kind: 'live',
    foreground,
    get running() {
      return listener !== null;
    },
    start(onEvent) {
      if (listener) return;
      const next = (event: HookEvent): void => {
        const input = inputEventOf(event, Date.now());
        if (input) onEvent(input);
      };
      uIOhook.on('input', next);
      try {
        uIOhook.start();
      } catch (cause) {
        uIOhook.off('input', next);
        throw new CandorError('capture.hook-failed', 'the OS refused the input hook (is an X display available?)', { cause });
      }
      listener = next;
    },
    stop() {
      if (!listener) return;
      uIOhook.stop();
      uIOhook.off('input', listener);
      listener = null;
    },
  };
}
