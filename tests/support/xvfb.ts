/**
 * A private X server for tests: Xvfb on a display number it picks itself (-displayfd), no TCP.
 * Tests drive it with real xdotool input and real X clients (`xterm -class KeePassXC` is a
 * window whose WM_CLASS says KeePassXC).
 *
 * Nothing outlives the test process, even if it crashes: Xvfb runs with -terminate (it exits
 * when its last client disconnects), this process holds one X connection of its own, and each
 * window's xterm exits when this process is gone. Xvfb is never killed while uiohook may hold
 * a connection to it: Xlib ends a process whose display dies ("X connection broken").
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createConnection, type Socket } from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

export type XServer = {
  /** `:N`, for DISPLAY. */
  readonly display: string;
  readonly env: NodeJS.ProcessEnv;
  /** Runs xdotool with these arguments on this display; resolves with its stdout. */
  xdotool(...args: string[]): Promise<string>;
  /**
   * Opens an xterm with this WM_CLASS and title; resolves with its window id once mapped.
   * `coverScreen` makes it what a screen locker makes: override-redirect, covering the screen
   * (xterm then sets no WM_CLASS, so this resolves with the new top-level window once it is viewable).
   */
  openWindow(windowClass: string, title: string, options?: { coverScreen?: boolean }): Promise<string>;
  /** Gives a window the input focus (no window manager needed). */
  focus(window: string): Promise<void>;
  /** Closes the windows and this process's own connection; Xvfb exits after its last client. */
  stop(): Promise<void>;
};

/** An X connection that completes the setup handshake (no auth) and then just stays open. */
function holdConnection(displayNumber: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(`/tmp/.X11-unix/X${displayNumber}`);
    socket.once('error', reject);
    socket.once('connect', () => {
      // Byte order 'l', protocol 11.0, no authorization name or data.
      socket.write(Uint8Array.of(0x6c, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0));
    });
    socket.once('data', (reply: Buffer) => {
      if (reply[0] === 1) resolve(socket);
      else reject(new Error('the X server refused the connection'));
    });
    socket.on('data', () => undefined);
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => { resolve(); });
  });
}

/** @throws Error when Xvfb is missing (install it: bash .ci/install-debian-packages). */
export async function startXvfb(): Promise<XServer> {
  const server = spawn('Xvfb', ['-displayfd', '3', '-nolisten', 'tcp', '-terminate'], {
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
  });
  const display = await new Promise<string>((resolve, reject) => {
    let text = '';
    const pipe = server.stdio[3];
    if (!pipe) {
      reject(new Error('Xvfb gave no display pipe'));
      return;
    }
    pipe.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.includes('\n')) {
        pipe.destroy();
        resolve(`:${text.trim()}`);
      }
    });
    server.once('error', reject);
    server.once('exit', (code) => {
      reject(new Error(`Xvfb exited (${String(code)}) before it was ready`));
    });
  });
  const keeper = await holdConnection(display.slice(1));
  const env = { ...process.env, DISPLAY: display };
  const clients: ChildProcess[] = [];
  // Bounded, so a window that never shows fails the test instead of leaving xdotool (and the server) behind.
  const xdotool = async (...args: string[]): Promise<string> => (await run('xdotool', args, { env, timeout: 15_000 })).stdout;
  return {
    display,
    env,
    xdotool,
    async openWindow(windowClass, title, { coverScreen = false } = {}) {
      // The window lives as long as this process does, not a second longer.
      const watch = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done`;
      const topLevels = async (): Promise<string[]> => [...(await run('xwininfo', ['-root', '-children'], { env })).stdout.matchAll(/^\s+(0x[0-9a-f]+)\s/gm)].map((match) => match[1] ?? '');
      const viewable = async (window: string): Promise<boolean> => (await run('xwininfo', ['-id', window], { env })).stdout.includes('Map State: IsViewable');
      const before = new Set(coverScreen ? await topLevels() : []);
      const shape = coverScreen ? ['-xrm', '*overrideRedirect: true', '-geometry', '400x200+0+0'] : ['-geometry', '60x10'];
      const client = spawn('xterm', ['-class', windowClass, '-title', title, ...shape, '-e', 'sh', '-c', watch], { env, stdio: 'ignore' });
      clients.push(client);
      if (coverScreen) {
        // Created is not enough: the window counts only once it is mapped (viewable), as a locker's is.
        for (let tries = 0; ; tries += 1) {
          if (tries > 200) throw new Error('the covering window never appeared');
          for (const window of (await topLevels()).filter((id) => !before.has(id))) {
            if (await viewable(window)) return window;
          }
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      }
      const found = await xdotool('search', '--sync', '--onlyvisible', '--limit', '1', '--class', `^${windowClass}$`);
      return found.trim().split('\n')[0] ?? '';
    },
    async focus(window) {
      await xdotool('windowfocus', '--sync', window);
    },
    async stop() {
      for (const client of clients) client.kill('SIGKILL');
      await Promise.all(clients.map(exited));
      keeper.destroy();
      server.unref();
    },
  };
}
