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
  let switches = 0;

  // Wall-clock time at which recording time 0 would have played; re-anchored on every start,
  // so a pause leaves a gap instead of a burst. Steps due together are played together, since
  // timers cannot fire faster than about a millisecond.
  let origin = 0;
  const dueAt = (at: number): number => origin + at / speed;

  const playDue = (onEvent: Parameters<InputSource['start']>[0]): void => {
    for (;;) {
      const step = recording.steps[position];
      if (!step) {
        if (!loop) {
          timer = null;
          return;
        }
        position = 0;
        origin = now() + LOOP_GAP_MS / speed;
        break;
      }
      if (dueAt(step.at) > now()) break;
      if ('context' in step) {
        context = { ...step.context, screen: recording.screen };
        switches += 1;
      } else {
        onEvent(step.event(now()));
      }
      position += 1;
    }
    const next = recording.steps[position];
    timer = setTimeout(() => {
      playDue(onEvent);
    }, Math.max(0, next ? dueAt(next.at) - now() : 0));
  };

  return {
    kind: 'replay',
    get running() {
      return timer !== null;
    },
    foreground: {
      unavailableReason: null,
      resolve: () => Promise.resolve(context),
      get switches() {
        return switches;
      },
    },
    start(onEvent) {
      if (timer) return;
      origin = now() - (recording.steps[position]?.at ?? 0) / speed;
      // Plays what is due at once, so the context is known before the first lookup.
      playDue(onEvent);
    },
    stop() {
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}
