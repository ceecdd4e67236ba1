/**
 * Password hashing with scrypt from Node's crypto (libsodium-wrappers' default build has no
 * password hashing). Parameters are OWASP's Password Storage Cheat Sheet minimum for scrypt:
 * N = 2^17, r = 8, p = 1. The stored form names its parameters so they can be raised later.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { InvariantError } from '@candor/shared/errors';

const PARAMS = { N: 2 ** 17, r: 8, p: 1, keyLength: 32, saltLength: 16 } as const;
const PREFIX = 'scrypt';

function scryptAsync(password: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, keyLength, { ...options, maxmem: 256 * 1024 * 1024 }, (error, key) => {
      if (error) reject(error);
      else resolve(key);
    });
  });
}

/** `scrypt$N$r$p$salt$hash`, salt and hash in base64url. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(PARAMS.saltLength);
  const key = await scryptAsync(password, salt, PARAMS.keyLength, { N: PARAMS.N, r: PARAMS.r, p: PARAMS.p });
  return [PREFIX, PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Constant-time check of a password against a stored hash; a malformed hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [prefix, n, r, p, salt, hash] = stored.split('$');
  if (prefix !== PREFIX || n === undefined || r === undefined || p === undefined || salt === undefined || hash === undefined) return false;
  const expected = Buffer.from(hash, 'base64url');
  const params = { N: Number(n), r: Number(r), p: Number(p) };
  if (!Object.values(params).every((value) => Number.isSafeInteger(value) && value > 0) || expected.length === 0) return false;
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64url'), expected.length, params);
  return timingSafeEqual(actual, expected);
}

/**
 * Run at start-up: proves the hash function exists and behaves before any account is
 * trusted to it (SECURITY.md, "Passwords").
 * @throws InvariantError when scrypt is missing or wrong.
 */
export async function assertPasswordHashingWorks(): Promise<void> {
  const stored = await hashPassword('candor self-test');
  const good = await verifyPassword('candor self-test', stored);
  const bad = await verifyPassword('candor self-tesT', stored);
  if (!good || bad) throw new InvariantError('password hashing self-test failed');
}
