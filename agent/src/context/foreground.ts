/**
 * Which application has the keyboard: on X11, the window holding the input focus
 * (GetInputFocus, climbing to the nearest window that has a WM_CLASS, as xdotool does), then
 * its WM_CLASS and title, over one X connection the resolver keeps open (./x11.ts). The input
 * focus, not _NET_ACTIVE_WINDOW, because keystrokes go where the focus is, and without a
 * window manager there is no active window. Elsewhere (Wayland, macOS, Windows) there is no
 * resolver yet, and the reason is reported.
 */
import type { AppContext } from '../capture/events.ts';
import {
  childrenOf,
  connectX11,
  getGeometry,
  getInputFocus,
  getProperty,
  getWindowAttributes,
  internAtom,
  localDisplayNumber,
  propertyBytes,
  queryTree,
  type XConnection,
} from './x11.ts';

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

// Predefined atoms (X11 protocol, appendix B).
const WM_NAME = 39;
const WM_CLASS = 67;
/** A focus window nested deeper than this under its client window is not looked for. */
const MAX_CLIMB = 16;

/** `instance\0class\0` → the class part (the instance when there is only one). */
export function windowClassOf(bytes: Buffer): string | null {
  const parts = bytes.toString('latin1').split('\0').filter((part) => part !== '');
  return parts.at(1) ?? parts.at(0) ?? null;
}

/**
 * A legacy WM_NAME: STRING is Latin-1; COMPOUND_TEXT (what xterm sets) is Latin-1 with UTF-8
 * runs between ESC % G and ESC % @. Other charset switches are dropped: titles only feed the
 * sensitive-window checks, which look for ASCII words.
 */
export function decodeLegacyTitle(bytes: Buffer): string {
  let text = '';
  let utf8 = false;
  let start = 0;
  const flush = (end: number): void => {
    text += bytes.subarray(start, end).toString(utf8 ? 'utf8' : 'latin1');
  };
  for (let index = 0; index < bytes.length; index += 1) {
    if (bytes[index] !== 0x1b) continue;
    flush(index);
    let end = index + 1;
    while (end < bytes.length && (bytes[end] ?? 0) >= 0x20 && (bytes[end] ?? 0) <= 0x2f) end += 1;
    const sequence = bytes.subarray(index + 1, end + 1).toString('latin1');
    if (sequence === '%G') utf8 = true;
    else if (sequence === '%@') utf8 = false;
    index = end;
    start = end + 1;
  }
  flush(bytes.length);
  return text;
}

type Lookup = { connection: XConnection; netWmName: number };

type Named = { windowClass: string | null; windowTitle: string | null };

async function nameOf({ connection, netWmName }: Lookup, window: number, classBytes: Buffer | null): Promise<Named> {
  const utf8Title = netWmName === 0 ? null : propertyBytes(await connection.request(getProperty(window, netWmName)));
  const legacy = utf8Title ? null : propertyBytes(await connection.request(getProperty(window, WM_NAME)));
  return {
    windowClass: classBytes ? windowClassOf(classBytes) : null,
    windowTitle: utf8Title ? utf8Title.toString('utf8') : legacy ? decodeLegacyTitle(legacy) : null,
  };
}

/**
 * A screen locker (i3lock, slock, xsecurelock, xscreensaver) maps a screen-sized
 * override-redirect window on top and grabs the keyboard, often without taking the focus,
 * which stays on the window underneath — where the unlock password would otherwise be
 * attributed. So the topmost viewable window is checked first: when it is such a cover, the
 * context is unresolved, whatever its class says, and the filter drops everything. A
 * full-screen override-redirect game is dropped too; that errs on the right side.
 */
async function coveredScreen(lookup: Lookup): Promise<boolean> {
  const { connection } = lookup;
  const tree = await connection.request(queryTree(connection.screen.root));
  if (!tree) return false;
  for (const window of childrenOf(tree).reverse()) {
    const attributes = await connection.request(getWindowAttributes(window));
    if (!attributes || attributes.readUInt8(26) !== 2) continue; // not viewable
    if (attributes.readUInt8(27) === 0) return false; // the top window is an ordinary one
    const geometry = await connection.request(getGeometry(window));
    if (!geometry) return false;
    const [x, y, width, height] = [geometry.readInt16LE(12), geometry.readInt16LE(14), geometry.readUInt16LE(16), geometry.readUInt16LE(18)];
    // Anything smaller is a menu or a tooltip.
    return x <= 0 && y <= 0 && x + width >= connection.screen.width && y + height >= connection.screen.height;
  }
  return false;
}

async function lookUp(lookup: Lookup): Promise<Named> {
  const { connection } = lookup;
  if (await coveredScreen(lookup)) return { windowClass: null, windowTitle: null };
  const focus = await connection.request(getInputFocus());
  let window = focus ? focus.readUInt32LE(8) : 0;
  // 0 is None and 1 is PointerRoot: nobody in particular has the keyboard.
  for (let depth = 0; window > 1 && window !== connection.screen.root && depth < MAX_CLIMB; depth += 1) {
    const classBytes = propertyBytes(await connection.request(getProperty(window, WM_CLASS)));
    if (classBytes) return nameOf(lookup, window, classBytes);
    const tree = await connection.request(queryTree(window));
    window = tree ? tree.readUInt32LE(12) : 0;
  }
  return { windowClass: null, windowTitle: null };
}

/** The resolver for this machine: X11 when a local display is named, otherwise an honest refusal. */
export function createForegroundResolver(env: NodeJS.ProcessEnv = process.env): ForegroundResolver {
  const reason = unavailableReasonFor(env);
  const nothing = { windowClass: null, windowTitle: null, screen: { width: 0, height: 0 } };
  if (reason !== null) return { unavailableReason: reason, resolve: () => Promise.resolve(nothing), switches: 0 };
  const display = env.DISPLAY ?? '';
  let switches = 0;
  let last: AppContext | undefined;
  let lookup: Promise<Lookup | null> | null = null;

  // One connection, opened on first use and again after the server went away.
  const connected = (): Promise<Lookup | null> => {
    lookup ??= connectX11(display, env).then(
      async (connection) => {
        const atom = await connection.request(internAtom('_NET_WM_NAME'));
        return { connection, netWmName: atom ? atom.readUInt32LE(8) : 0 };
      },
      () => null,
    );
    return lookup;
  };

  return {
    unavailableReason: null,
    get switches() {
      return switches;
    },
    async resolve() {
      const current = await connected();
      if (!current || current.connection.closed) {
        lookup = null;
        return nothing;
      }
      const { width, height } = current.connection.screen;
      const context = { ...(await lookUp(current)), screen: { width, height } };
      if (last && (last.windowClass !== context.windowClass || last.windowTitle !== context.windowTitle)) switches += 1;
      last = context;
      return context;
    },
  };
}

function unavailableReasonFor(env: NodeJS.ProcessEnv): string | null {
  if (process.platform !== 'linux') return `no foreground-application resolver for ${process.platform} yet`;
  const display = env.DISPLAY;
  if (display === undefined || display === '') {
    return env.WAYLAND_DISPLAY ? 'Wayland does not tell applications which window has the keyboard' : 'no X display (DISPLAY is not set)';
  }
  if (localDisplayNumber(display) === null) return 'only a local X display is supported (DISPLAY names a remote one)';
  return null;
}
