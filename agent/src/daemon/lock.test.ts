import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockDataDir } from './lock.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'candor-lock-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('the data dir lock', () => {
  it('refuses a second holder until the first releases it, and is the user\'s alone', () => {
    const first = lockDataDir(dir);
    expect(() => lockDataDir(dir)).toThrow(expect.objectContaining({ code: 'daemon.already-running' }));
    expect(statSync(join(dir, 'daemon.lock')).mode & 0o777).toBe(0o600);
    first.release();
    const second = lockDataDir(dir);
    second.release();
    second.release();
  });

  it('is held per data dir', () => {
    const other = mkdtempSync(join(tmpdir(), 'candor-lock-'));
    try {
      const a = lockDataDir(dir);
      const b = lockDataDir(other);
      a.release();
      b.release();
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
