import { appendFileSync, closeSync, cpSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
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

describe('a damaged write-ahead log', () => {
  /** The store's files as a kill would leave them: copied while it is open, so the log still holds its commits (one a window). */
  function killedWithWindows(count: number): string {
    const dir = mkdtempSync(join(tmpdir(), 'candor-wal-'));
    const copy = mkdtempSync(join(tmpdir(), 'candor-wal-copy-'));
    dirs.push(dir, copy);
    const store = openStore({ dataDir: dir, keyRing: openKeyRing({ keyDir: join(dir, 'keys'), env: {} }) });
    for (let index = 0; index < count; index += 1) store.putWindows([sampleWindow(index)], 24);
    for (const name of readdirSync(dir)) cpSync(join(dir, name), join(copy, name), { recursive: true });
    store.close();
    return copy;
  }

  const wal = (dir: string): string => join(dir, `${STORE_FILE}-wal`);
  const walPageSize = (dir: string): number => readFileSync(wal(dir)).readUInt32BE(8);
  const held = (dir: string): number => {
    const store = openStore({ dataDir: dir, keyRing: openKeyRing({ keyDir: join(dir, 'keys'), env: {} }) });
    try {
      return store.status().windows;
    } finally {
      store.close();
    }
  };

  it('opens whole, with every committed window (control)', () => {
    expect(held(killedWithWindows(20))).toBe(20);
  });

  it('is reported at open when a frame before committed changes is damaged, rather than opening with windows missing', () => {
    const dir = killedWithWindows(20);
    const frames = (statSync(wal(dir)).size - 32) / (24 + walPageSize(dir));
    expect(frames).toBeGreaterThan(20);
    // One byte in the page of the third frame: SQLite would stop reading the log there.
    const offset = 32 + 2 * (24 + walPageSize(dir)) + 24 + 100;
    const byte = readFileSync(wal(dir))[offset] ?? 0;
    overwrite(wal(dir), offset, Uint8Array.of(byte ^ 0x01));
    const error = openError(dir);
    expect(error.code).toBe('store.corrupt');
    expect(error.message).toMatch(/write-ahead log is damaged at frame 3, before changes that were committed\); nothing was read or sent/);
    // Nothing was checkpointed over the evidence: the damaged log is still there, as it was.
    expect(readFileSync(wal(dir))[offset]).toBe(byte ^ 0x01);
  });

  it('is reported at open when the log\'s header is damaged, which hides every frame from SQLite', () => {
    const dir = killedWithWindows(20);
    // Byte 13: the checkpoint sequence number, which only the header's checksum covers.
    const byte = readFileSync(wal(dir))[13] ?? 0;
    overwrite(wal(dir), 13, Uint8Array.of(byte ^ 0x01));
    const error = openError(dir);
    expect(error.code).toBe('store.corrupt');
    expect(error.message).toContain('write-ahead log is damaged in its header, before changes that were committed');
  });

  it('opens without the last transaction when a power cut kept its commit frame but not an earlier one', () => {
    const dir = killedWithWindows(20);
    const bytes = readFileSync(wal(dir));
    const frameBytes = 24 + walPageSize(dir);
    const commits: number[] = [];
    for (let frame = 0; 32 + (frame + 1) * frameBytes <= bytes.length; frame += 1) if (bytes.readUInt32BE(32 + frame * frameBytes + 4) !== 0) commits.push(frame);
    const [secondLast, last] = commits.slice(-2);
    if (secondLast === undefined || last === undefined) throw new Error('expected commits');
    expect(last - secondLast).toBeGreaterThan(1);
    // The last transaction's first frame never reached the disk: zeros where its page was.
    overwrite(wal(dir), 32 + (secondLast + 1) * frameBytes + 24, new Uint8Array(walPageSize(dir)));
    expect(held(dir)).toBe(19);
  });

  it('opens when the log ends in a torn write, which loses nothing committed', () => {
    const dir = killedWithWindows(20);
    // Half a frame more, as a kill in the middle of appending one leaves it.
    const bytes = readFileSync(wal(dir));
    const frame = bytes.subarray(bytes.length - (24 + walPageSize(dir)));
    appendFileSync(wal(dir), frame.subarray(0, frame.length / 2));
    expect(held(dir)).toBe(20);
  });
});
