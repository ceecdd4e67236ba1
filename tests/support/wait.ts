/** Waiting for something that happens in another process or thread, with a generous bound. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `check` holds; rejects with `what` if it never does within `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/**
 * How long input gets to arrive before "nothing arrived" is believed. Every such check is
 * paired with a positive control in the same test: the same input, with the hook on, arrives.
 */
export const SETTLE_MS = 400;
