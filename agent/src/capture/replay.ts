/**
 * The replay source: plays a recording through the same pipeline as the live hook, at its
 * recorded pace (or faster), looping. Pausing the session halts playback where it is, as the
 * live hook's removal would; its foreground resolver answers with the recording's context.
 */
import type { AppContext } from './events.ts';
import type { Recording } from './recording.ts';
import type { InputSource } from './source.ts';

export type ReplayOptions = { speed?: number; loop?: boolean; now?: () => number };

const LOOP_GAP_MS = 1000;

export function createReplaySource(recording: Recording, { speed = 1, loop = true, now = Date.now }: ReplayOptions = {}): InputSource {
  let position = 0;
  let timer: NodeJS.Timeout | null = null;
  let context: AppContext = { windowClass: null, windowTitle: null, screen: recording.screen };

  const playFrom = (onEvent: Parameters<InputSource['start']>[0]): void => {
    const step = recording.steps[position];
    if (!step) {
      if (!loop) {
        timer = null;
        return;
      }
      position = 0;
      timer = setTimeout(() => {
        playFrom(onEvent);
      }, LOOP_GAP_MS / speed);
      return;
    }
    if ('context' in step) context = { ...step.context, screen: recording.screen };
    else onEvent(step.event(now()));
    position += 1;
    const next = recording.steps[position];
    const delay = next ? Math.max(0, next.at - step.at) / speed : 0;
    timer = setTimeout(() => {
      playFrom(onEvent);
    }, delay);
  };

  return {
    kind: 'replay',
    get running() {
      return timer !== null;
    },
    foreground: { unavailableReason: null, resolve: () => Promise.resolve(context) },
    start(onEvent) {
      if (timer) return;
      timer = setTimeout(() => {
        playFrom(onEvent);
      }, 0);
    },
    stop() {
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}
