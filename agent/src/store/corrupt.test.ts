import { mkdtempSync, openSync, closeSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CandorError } from '@candor/shared/errors';
import { openKeyRing } from '../keys/keyring.ts';
import { sampleWindow } from './sample-windows.ts';
import { openStore, STORE_FILE } from './store.ts';

const PAGE = 4096;
const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A closed store of a few dozen pages (closing checkpoints the WAL into the file). */
function storeWithPages(): string {
  const dir = mkdtempSync(join(tmpdir(), 'candor-corrupt-'));
  dirs.push(dir);
  const store = openStore({ dataDir: dir, keyRing: openKeyRing({ keyDir: join(dir, 'keys'), env: {} }) });
  for (let index = 0; index < 300; index += 1) store.putWindows([sampleWindow(index, { vocabulary: { git: index + 1, rebase: 1 } })], 24);
  store.close();
  return dir;
}

function overwrite(path: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, bytes, 0, bytes.length, offset);
  closeSync(fd);
}

function openError(dir: string): CandorError {
  try {
    openStore({ dataDir: dir, keyRing: openKeyRing({ keyDir: join(dir, 'keys'), env: {} }) }).close();
  } catch (error) {
    if (error instanceof CandorError) return error;
    throw error;
  }
  throw new Error('expected the store to refuse to open');
}

describe('a damaged store file', () => {
  it.each([
    ['truncated in the middle of a page', (path: string) => {
      truncateSync(path, statSync(path).size - PAGE * 3 - 100);
    }],
    ['with a page overwritten by garbage', (path: string) => {
      overwrite(path, PAGE * 5, new Uint8Array(PAGE).fill(0xa5));
    }],
    ['with a b-tree page header zeroed', (path: string) => {
      overwrite(path, PAGE * 2, new Uint8Array(16));
    }],
    ['whose header is not SQLite', (path: string) => {
      overwrite(path, 0, new TextEncoder().encode('this is not a database file'));
    }],
  ])('is reported clearly at open when %s', (_, damage) => {
    const dir = storeWithPages();
    expect(statSync(join(dir, STORE_FILE)).size).toBeGreaterThan(PAGE * 10);
    damage(join(dir, STORE_FILE));
    const error = openError(dir);
    expect(error.code).toBe('store.corrupt');
    expect(error.message).toMatch(/is damaged .*nothing was read or sent from it.*Move it aside/);
    expect(error.message).not.toMatch(/at .*\.ts:\d+/);
  });
});
