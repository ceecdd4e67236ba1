import { describe, expect, it } from 'vitest';
import { createForegroundResolver, decodeLegacyTitle, windowClassOf } from './foreground.ts';
import { localDisplayNumber, parseXauthority } from './x11.ts';

describe('reading X11 values', () => {
  it.each([
    ['instance and class', 'xterm\0KeePassXC\0', 'KeePassXC'],
    ['a class only', 'only\0', 'only'],
    ['no terminating NUL', 'code\0Code', 'Code'],
    ['nothing', '', null],
  ])('takes the class from WM_CLASS with %s', (_, text, windowClass) => {
    expect(windowClassOf(Buffer.from(text, 'latin1'))).toBe(windowClass);
  });

  it.each([
    ['plain Latin-1', Buffer.from('caf\xe9 sudo', 'latin1'), 'café sudo'],
    ['compound text with a UTF-8 run', Buffer.concat([Buffer.from('a \x1b%G', 'latin1'), Buffer.from('— ✓', 'utf8'), Buffer.from('\x1b%@ b', 'latin1')]), 'a — ✓ b'],
    ['compound text with another charset switch', Buffer.from('x\x1b$(Ay', 'latin1'), 'xy'],
  ])('decodes a legacy title in %s', (_, bytes, title) => {
    expect(decodeLegacyTitle(bytes)).toBe(title);
  });

  it.each([
    [':0', 0],
    [':12.0', 12],
    ['unix:3', 3],
    ['remote.example:0', null],
    ['localhost:10.0', null],
    ['', null],
  ])('reads %j as local display %s', (display, number) => {
    expect(localDisplayNumber(display)).toBe(number);
  });

  it('reads Xauthority entries and stops at a truncated one', () => {
    const field = (text: string | Buffer) => {
      const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
      const length = Buffer.alloc(2);
      length.writeUInt16BE(bytes.length);
      return Buffer.concat([length, bytes]);
    };
    const family = (value: number) => Buffer.from([value >> 8, value & 0xff]);
    const cookie = Buffer.alloc(16, 7);
    const file = Buffer.concat([family(256), field('host'), field('0'), field('MIT-MAGIC-COOKIE-1'), field(cookie), family(256), field('truncated')]);
    expect(parseXauthority(file)).toEqual([{ family: 256, address: 'host', number: '0', name: 'MIT-MAGIC-COOKIE-1', data: cookie }]);
  });
});

describe('the foreground resolver', () => {
  it.each([
    ['no display', {}, /no X display/],
    ['a Wayland session', { WAYLAND_DISPLAY: 'wayland-0' }, /Wayland/],
    ['a remote display', { DISPLAY: 'remote.example:0' }, /local X display/],
  ])('refuses with a reason on %s, and resolves nothing', async (_, env, reason) => {
    const resolver = createForegroundResolver(env);
    expect(resolver.unavailableReason).toMatch(reason);
    expect((await resolver.resolve()).windowClass).toBeNull();
  });

  it('resolves nothing, without throwing, when the display does not answer', async () => {
    const resolver = createForegroundResolver({ DISPLAY: ':65000' });
    expect(resolver.unavailableReason).toBeNull();
    expect((await resolver.resolve()).windowClass).toBeNull();
  });
});
