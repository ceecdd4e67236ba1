import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockDataDir } from './lock.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'candor-lock-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const LOCK_MODULE = new URL('./lock.ts', import.meta.url).href;

describe('the data dir lock', () => {
  it("refuses a second holder until the first releases it, and is the user's alone", async () => {
    const first = await lockDataDir(dir);
    await expect(lockDataDir(dir)).rejects.toMatchObject({ code: 'daemon.already-running' });
    expect(statSync(join(dir, 'daemon.lock')).mode & 0o777).toBe(0o600);
    first.release();
    const second = await lockDataDir(dir);
    second.release();
    second.release();
  });

  it('is held per data dir', async () => {
    const other = mkdtempSync(join(tmpdir(), 'candor-lock-'));
    try {
      const a = await lockDataDir(dir);
      const b = await lockDataDir(other);
      a.release();
      b.release();
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('stays held by another process that dropped the object and collected its garbage, and goes with that process', async () => {
    // A connection better-sqlite3 garbage-collects is closed, and its lock with it.
    const holder = spawn(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', `await import(${JSON.stringify(LOCK_MODULE)}).then((m) => m.lockDataDir(${JSON.stringify(dir)})); for (let i = 0; i < 5; i += 1) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); } console.log('ready'); setInterval(() => undefined, 1000);`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.once('exit', (code) => { reject(new Error(`the holder exited (${String(code)})`)); });
        createInterface({ input: holder.stdout }).once('line', () => { resolve(); });
      });
      await expect(lockDataDir(dir)).rejects.toMatchObject({ code: 'daemon.already-running' });
    } finally {
      holder.kill('SIGKILL');
    }
    await new Promise((resolve) => holder.once('exit', resolve));
    (await lockDataDir(dir)).release();
  });
});
