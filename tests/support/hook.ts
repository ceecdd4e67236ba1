/**
 * Watches uiohook-napi itself, beneath Candor's capture: if the hook were installed and Candor
 * merely ignored its events, this probe would still see them. It observes; it never starts
 * or stops the hook.
 */
export type HookProbe = { readonly count: number; reset(): void; close(): void };

/** Load only once DISPLAY names the test's X server (see agent/src/capture/live.ts). */
export async function probeHook(): Promise<HookProbe> {
  const { uIOhook } = await import('uiohook-napi');
  let count = 0;
  const listener = (): void => {
    count += 1;
  };
  uIOhook.on('input', listener);
  return {
    get count() {
      return count;
    },
    reset() {
      count = 0;
    },
    close() {
      uIOhook.off('input', listener);
    },
  };
}
