/**
 * The two ends of capture. An `InputSource` is what produces input events — the OS hook, or
 * a recording played back — and the foreground resolver that goes with it. A `CaptureSink`
 * is where filtered batches go: the redaction step (agent/src/redact/) accepts them.
 */
import type { ForegroundResolver } from '../context/foreground.ts';
import type { ContextBatch, InputEvent } from './events.ts';

export type InputSource = {
  readonly kind: 'live' | 'replay';
  /**
   * Installs the hook (live) or resumes playback (replay); events go to `onEvent` until
   * `stop`. @throws CandorError `capture.hook-failed` when the OS refuses the hook.
   */
  start(onEvent: (event: InputEvent) => void): void;
  /** Removes the hook / halts playback. Safe to call when not started. */
  stop(): void;
  /** True from a successful `start` until `stop`: the hook is installed. */
  readonly running: boolean;
  readonly foreground: ForegroundResolver;
};

/** Receives batches that passed the context filter. Must not throw for bad data: it owns its errors. */
export type CaptureSink = { accept(batch: ContextBatch): void };
