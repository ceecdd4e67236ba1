import { describe, expect, it } from 'vitest';
import { assertPasswordHashingWorks, hashPassword, verifyPassword } from './passwords.ts';

describe('passwords', () => {
  it('verify the right password and refuse a wrong one', async () => {
    const stored = await hashPassword('correct horse battery staple');
    expect(await verifyPassword('correct horse battery staple', stored)).toBe(true);
    expect(await verifyPassword('correct horse battery stapl', stored)).toBe(false);
  });

  it('are stored salted, with OWASP minimum scrypt parameters, never in the clear', async () => {
    const [first, second] = await Promise.all([hashPassword('same password'), hashPassword('same password')]);
    expect(first).not.toBe(second);
    expect(first).toMatch(/^scrypt\$131072\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(first).not.toContain('same password');
  });

  it.each(['', 'scrypt$1$2', 'bcrypt$12$abc$def$ghi$jkl', 'scrypt$x$8$1$salt$hash', 'scrypt$131072$8$1$c2FsdA$'])(
    'never match a malformed stored hash %j',
    async (stored) => {
      expect(await verifyPassword('anything', stored)).toBe(false);
    },
  );

  it('pass the start-up self-test', async () => {
    await expect(assertPasswordHashingWorks()).resolves.toBeUndefined();
  });
});
