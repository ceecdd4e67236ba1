/** Time for the session machine's deadlines, injectable so expiry can be tested without waiting. */
export type Clock = {
  now(): number;
  /** Calls `run` at `at` (ms since the epoch); returns a function that cancels it. */
  schedule(at: number, run: () => void): () => void;
};

// setTimeout's delay is a signed 32-bit count of milliseconds; longer waits re-arm.
const MAX_TIMER_MS = 2 ** 31 - 1;

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
