/**
 * The X11 foreground resolver against a real X server and real windows: which window holds
 * the input focus, its WM_CLASS and title, from one long-lived X connection.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgeContext } from '../../agent/src/context/filter.ts';
import { createForegroundResolver, type ForegroundResolver } from '../../agent/src/context/foreground.ts';
import { startXvfb, type XServer } from '../support/xvfb.ts';

const run = promisify(execFile);
let x: XServer;
let resolver: ForegroundResolver;

beforeAll(async () => {
  x = await startXvfb();
  resolver = createForegroundResolver(x.env);
});

afterAll(async () => {
  await x.stop();
});

describe('the X11 foreground resolver', () => {
  it('finds nobody when no window has the focus', async () => {
    expect(await resolver.resolve()).toMatchObject({ windowClass: null, windowTitle: null });
  });

  it('names the focused window by its WM_CLASS class and UTF-8 title, and counts switches', async () => {
    const vault = await x.openWindow('KeePassXC', 'Passwords.kdbx — KeePassXC ✓');
    const terminal = await x.openWindow('xterm', 'bash — ~/src/naïve');
    const before = resolver.switches;
    await x.focus(vault);
    expect(await resolver.resolve()).toMatchObject({ windowClass: 'KeePassXC', windowTitle: 'Passwords.kdbx — KeePassXC ✓' });
    await x.focus(terminal);
    const context = await resolver.resolve();
    expect(context).toMatchObject({ windowClass: 'xterm', windowTitle: 'bash — ~/src/naïve' });
    expect(context.screen.width).toBeGreaterThan(0);
    expect(resolver.switches).toBe(before + 2);
  });

  it('climbs from a focused child window to the client window that has the class', async () => {
    const vault = await x.openWindow('Bitwarden', 'Vault');
    const { stdout } = await run('xwininfo', ['-children', '-id', vault], { env: x.env });
    const child = /^\s+(0x[0-9a-f]+)/m.exec(stdout.split('child')[1] ?? '')?.[1];
    expect(child).toBeDefined();
    await x.focus(String(Number(child)));
    expect(await x.xdotool('getwindowfocus', '-f')).toContain(String(Number(child)));
    expect(await resolver.resolve()).toMatchObject({ windowClass: 'Bitwarden', windowTitle: 'Vault' });
  });

  // Last: the cover stays up until the X server goes.
  it('treats a screen-covering override-redirect window (a screen locker) as unresolved, though the focus stays on the window beneath', async () => {
    const terminal = await x.openWindow('Gedit', 'notes.txt');
    await x.focus(terminal);
    expect(await resolver.resolve()).toMatchObject({ windowClass: 'Gedit' });
    await x.openWindow('locker', 'locked', { coverScreen: true });
    expect(await x.xdotool('getwindowfocus')).toContain(terminal);
    const context = await resolver.resolve();
    expect(context).toMatchObject({ windowClass: null });
    expect(judgeContext(context, { allow: [], deny: [] })).toEqual({ capture: false, why: 'unresolved' });
  });
});
