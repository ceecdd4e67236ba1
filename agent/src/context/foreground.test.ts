import { describe, expect, it } from 'vitest';
import { createForegroundResolver, parseXprop } from './foreground.ts';

describe('reading xprop output', () => {
  it.each([
    ['class and UTF-8 title', 'WM_CLASS = "xterm", "KeePassXC"\n_NET_WM_NAME = "Passwords.kdbx"\nWM_NAME = "old"\n', 'KeePassXC', 'Passwords.kdbx'],
    ['only the legacy title', 'WM_CLASS = "code", "Code"\n_NET_WM_NAME:  not found.\nWM_NAME = "main.ts"\n', 'Code', 'main.ts'],
    ['a title with escaped quotes', 'WM_CLASS = "a", "B"\n_NET_WM_NAME = "say \\"hi\\""\n', 'B', 'say "hi"'],
    ['a window with no class', 'WM_CLASS:  not found.\n_NET_WM_NAME = "x"\n', null, 'x'],
    ['a single-string class', 'WM_CLASS = "only"\n', 'only', null],
    ['nothing at all', '', null, null],
  ])('handles %s', (_, output, windowClass, windowTitle) => {
    expect(parseXprop(output)).toEqual({ windowClass, windowTitle });
  });
});

describe('the foreground resolver', () => {
  it.each([
    ['no display', {}, /no X display/],
    ['a Wayland session', { WAYLAND_DISPLAY: 'wayland-0' }, /Wayland/],
  ])('refuses with a reason on %s, and resolves nothing', async (_, env, reason) => {
    const resolver = createForegroundResolver({ PATH: process.env.PATH, ...env });
    expect(resolver.unavailableReason).toMatch(reason);
    expect((await resolver.resolve()).windowClass).toBeNull();
  });
});
