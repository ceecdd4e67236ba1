/**
 * Which application has the keyboard: on X11, the window holding the input focus
 * (XGetInputFocus, through `xdotool getwindowfocus`, which climbs to the client window), then
 * its WM_CLASS and title (through `xprop`). The input focus, not _NET_ACTIVE_WINDOW, because
 * keystrokes go where the focus is, and without a window manager there is no active window.
 * Elsewhere (Wayland, macOS, Windows) there is no resolver yet, and the reason is reported.
 */
import { execFile, execFileSync } from 'node:child_process';
import type { AppContext } from '../capture/events.ts';

export type ForegroundResolver = {
  /** Why the foreground app cannot be resolved on this machine, or null when it can. */
  readonly unavailableReason: string | null;
  /** The current context; `windowClass` is null when this one lookup failed. */
  resolve(): Promise<AppContext>;
  /**
   * How many focus changes this resolver knows of so far. A source that knows every change
   * (replay) counts them all, so a switch away and back between two lookups still shows; the
   * X11 poller only sees changes between lookups (docs/agent.md, "Where the participant is").
   */
  readonly switches: number;
};

const LOOKUP_TIMEOUT_MS = 2000;

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(command, args, { env, timeout: LOOKUP_TIMEOUT_MS, encoding: 'utf8' }, (error, stdout) => {
      resolve(error ? null : stdout);
    });
  });
}

function hasCommand(command: string, env: NodeJS.ProcessEnv): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { env, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `WM_CLASS = "xterm", "KeePassXC"` → class part; `_NET_WM_NAME = "title"` → title. */
export function parseXprop(output: string): { windowClass: string | null; windowTitle: string | null } {
  const quoted = (line: string | undefined): string[] => [...(line ?? '').matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((match) => (match[1] ?? '').replace(/\\(.)/g, '$1'));
  const lines = output.split('\n');
  const classes = quoted(lines.find((line) => line.startsWith('WM_CLASS')));
  const title = quoted(lines.find((line) => line.startsWith('_NET_WM_NAME'))).at(0) ?? quoted(lines.find((line) => line.startsWith('WM_NAME'))).at(0);
  return { windowClass: classes.at(1) ?? classes.at(0) ?? null, windowTitle: title ?? null };
}

/** The resolver for this machine: X11 when a display is reachable, otherwise an honest refusal. */
export function createForegroundResolver(env: NodeJS.ProcessEnv = process.env): ForegroundResolver {
  const reason = unavailableReasonFor(env);
  const unknown = { windowClass: null, windowTitle: null, screen: { width: 0, height: 0 } };
  if (reason !== null) return { unavailableReason: reason, resolve: () => Promise.resolve(unknown), switches: 0 };
  let screen: AppContext['screen'] | undefined;
  let switches = 0;
  let last: AppContext | undefined;
  const seen = (context: AppContext): AppContext => {
    if (last && (last.windowClass !== context.windowClass || last.windowTitle !== context.windowTitle)) switches += 1;
    last = context;
    return context;
  };
  return {
    unavailableReason: null,
    get switches() {
      return switches;
    },
    resolve: async () => seen(await lookUp()),
  };

  async function lookUp(): Promise<AppContext> {
    {
      if (!screen) {
        const geometry = (await run('xdotool', ['getdisplaygeometry'], env))?.trim().split(/\s+/).map(Number) ?? [];
        screen = { width: geometry[0] ?? 0, height: geometry[1] ?? 0 };
      }
      const window = (await run('xdotool', ['getwindowfocus'], env))?.trim();
      if (window === undefined || !/^\d+$/.test(window)) return { ...unknown, screen };
      const properties = await run('xprop', ['-notype', '-id', window, 'WM_CLASS', '_NET_WM_NAME', 'WM_NAME'], env);
      return properties === null ? { ...unknown, screen } : { ...parseXprop(properties), screen };
    }
  }
}

function unavailableReasonFor(env: NodeJS.ProcessEnv): string | null {
  if (process.platform !== 'linux') return `no foreground-application resolver for ${process.platform} yet`;
  if (env.DISPLAY === undefined || env.DISPLAY === '') {
    return env.WAYLAND_DISPLAY ? 'Wayland does not tell applications which window has the keyboard' : 'no X display (DISPLAY is not set)';
  }
  for (const command of ['xdotool', 'xprop']) {
    if (!hasCommand(command, env)) return `${command} is not installed (Debian: apt install ${command === 'xprop' ? 'x11-utils' : 'xdotool'})`;
  }
  return null;
}
