/** Time for the session machine's deadlines, injectable so expiry can be tested without waiting. */
export type Clock = {
  now(): number;
  /** Calls `run` at `at` (ms since the epoch); returns a function that cancels it. */
  schedule(at: number, run: () => void): () => void;
};

// Timers count monotonic time, which stops while the machine sleeps; deadlines are wall-clock
// times. Re-checking the wall clock at least this often keeps a deadline passed during sleep
// from being noticed only as late as the sleep was long.
const MAX_TIMER_MS = 10_000;

export const systemClock: Clock = {
  now: () => Date.now(),
  schedule(at, run) {
    let timer: NodeJS.Timeout;
    const arm = (): void => {
      const wait = at - Date.now();
      timer = setTimeout(wait > MAX_TIMER_MS ? arm : run, Math.max(0, Math.min(wait, MAX_TIMER_MS)));
    };
    arm();
    return () => {
      clearTimeout(timer);
    };
  },
};

export type ManualClock = Clock & { advance(ms: number): void };

/** A clock that moves only when told to; due callbacks run during `advance`. */
export function createManualClock(start: number): ManualClock {
  let now = start;
  const due = new Set<{ at: number; run: () => void }>();
  return {
    now: () => now,
    schedule(at, run) {
      const entry = { at, run };
      due.add(entry);
      return () => due.delete(entry);
    },
    advance(ms) {
      now += ms;
      for (const entry of [...due].sort((a, b) => a.at - b.at)) {
        if (entry.at <= now && due.delete(entry)) entry.run();
      }
    },
  };
}
