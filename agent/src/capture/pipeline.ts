/**
 * Capture: the hook (source) → per-batch foreground context → context filter → sink.
 * The foreground application is looked up at the edges of every batch; a batch is passed
 * on only when both lookups agree on one allowed application, so events typed just before or
 * after a switch to an excluded window are dropped with their batch, never mis-attributed.
 * Dropped events are counted and forgotten: nothing about them reaches the sink.
 */
import type { AppContext, InputEvent } from './events.ts';
import type { CaptureSink, InputSource } from './source.ts';
import { judgeContext, type AppScope } from '../context/filter.ts';

export type CaptureCounts = { accepted: number; excluded: number };

export type Capture = {
  /** Installs the hook and starts batching. @throws what InputSource.start throws. */
  start(scope: AppScope): void;
  /** Removes the hook at once; events not yet judged are dropped with it. */
  stop(): void;
  readonly running: boolean;
  readonly counts: CaptureCounts;
  resetCounts(): void;
};

export type CaptureOptions = {
  source: InputSource;
  sink: CaptureSink;
  batchMs?: number;
  /**
   * The consent gate, asked again before each batch goes on: a timer that fires late (a
   * suspended laptop) must not let one batch past a session's end. When it says no, the batch
   * is dropped and `onGateClosed` runs, so the owner can remove the hook.
   */
  allowed?: () => boolean;
  onGateClosed?: () => void;
  onError?: (error: unknown) => void;
};

const DEFAULT_BATCH_MS = 250;

type Observed = { context: AppContext; switches: number };

/** One context throughout: the same window at both lookups, and no switch known in between. */
function sameContext(a: Observed, b: Observed): boolean {
  return a.switches === b.switches && a.context.windowClass === b.context.windowClass && a.context.windowTitle === b.context.windowTitle;
}

export function createCapture({
  source,
  sink,
  batchMs = DEFAULT_BATCH_MS,
  allowed = () => true,
  onGateClosed = () => undefined,
  onError = () => undefined,
}: CaptureOptions): Capture {
  const counts: CaptureCounts = { accepted: 0, excluded: 0 };
  // Each start gets a generation; a lookup that finishes after stop() belongs to a dead one.
  let generation = 0;
  let pending: InputEvent[] = [];

  const judge = (events: InputEvent[], before: Observed, after: Observed, scope: AppScope): void => {
    if (events.length === 0) return;
    if (!allowed()) {
      counts.excluded += events.length;
      onGateClosed();
      return;
    }
    const verdict = sameContext(before, after) ? judgeContext(after.context, scope) : null;
    if (verdict?.capture !== true) {
      counts.excluded += events.length;
      return;
    }
    counts.accepted += events.length;
    try {
      sink.accept({ context: after.context, events });
    } catch (error) {
      onError(error);
    }
  };

  const observe = async (): Promise<Observed> => {
    const context = await source.foreground.resolve();
    return { context, switches: source.foreground.switches };
  };

  const loop = async (mine: number, scope: AppScope): Promise<void> => {
    let before = await observe();
    while (mine === generation) {
      await new Promise((resolve) => setTimeout(resolve, batchMs));
      if (mine !== generation) return;
      const after = await observe();
      if (mine !== generation) return;
      const events = pending;
      pending = [];
      judge(events, before, after, scope);
      before = after;
    }
  };

  return {
    get running() {
      return source.running;
    },
    get counts() {
      return { ...counts };
    },
    resetCounts() {
      counts.accepted = 0;
      counts.excluded = 0;
    },
    start(scope) {
      if (source.running) return;
      pending = [];
      const mine = ++generation;
      source.start((event) => {
        if (mine === generation) pending.push(event);
      });
      loop(mine, scope).catch(onError);
    },
    stop() {
      generation += 1;
      source.stop();
      counts.excluded += pending.length;
      pending = [];
    },
  };
}
