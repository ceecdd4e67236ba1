/**
 * Byte scans of everything under the data dir (database, -wal, -shm, journal, logs, key
 * files) for a canary typed-vocabulary token and for the ciphertext of deleted rows. Each
 * scan is also run with the protection switched off, to prove it finds what it looks for.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { utf8 } from '@candor/shared/encoding';
import { openKeyRing } from '../keys/keyring.ts';
import { sampleWindow } from './sample-windows.ts';
import { openStore, STORE_FILE, type LocalStore } from './store.ts';

const CANARY = 'zqxCanary7f3a9';
const dirs: string[] = [];
const stores: LocalStore[] = [];

afterEach(() => {
  for (const store of stores.splice(0)) store.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** The files under `dir` whose bytes contain `needle`. */
function filesContaining(dir: string, needle: Uint8Array): string[] {
  return filesUnder(dir).filter((path) => readFileSync(path).includes(Buffer.from(needle)));
}

function freshStore(): { dir: string; store: LocalStore } {
  const dir = mkdtempSync(join(tmpdir(), 'candor-canary-'));
  dirs.push(dir);
  const logger = pino(pino.destination({ dest: join(dir, 'agent.log'), sync: true, mkdir: true }));
  const store = openStore({ dataDir: dir, keyRing: openKeyRing({ keyDir: join(dir, 'keys'), env: {} }), logger });
  stores.push(store);
  return { dir, store };
}

function ciphertextsOf(dir: string): Uint8Array[] {
  const raw = new Database(join(dir, STORE_FILE), { readonly: true });
  const rows = raw.prepare('SELECT ciphertext FROM windows').all() as { ciphertext: Uint8Array }[];
  raw.close();
  return rows.map((row) => row.ciphertext);
}

const canaryWindow = (index: number) => sampleWindow(index, { vocabulary: { [CANARY]: 3, git: 2 } });

describe('a canary token stored in a window', () => {
  it('is never on disk in plaintext, and its ciphertext is gone from every file once the window is deleted', () => {
    const { dir, store } = freshStore();
    const [id] = store.putWindows([canaryWindow(1)], 24);
    store.putWindows([sampleWindow(2)], 24);
    expect(filesContaining(dir, utf8(CANARY))).toEqual([]);
    const [ciphertext] = ciphertextsOf(dir);
    if (!ciphertext) throw new Error('expected a stored window');
    expect(filesContaining(dir, ciphertext)).toEqual([join(dir, STORE_FILE + '-wal')]);

    expect(store.deleteWindow(id ?? '')).toBe('deleted');
    expect(filesContaining(dir, ciphertext)).toEqual([]);
    expect(filesContaining(dir, utf8(CANARY))).toEqual([]);
  });

  it('leaves nothing of the study behind after withdrawal: no canary, no ciphertext, no wrapped key', () => {
    const { dir, store } = freshStore();
    store.putWindows([canaryWindow(1), canaryWindow(2)], 24);
    const ciphertexts = ciphertextsOf(dir);
    const raw = new Database(join(dir, STORE_FILE), { readonly: true });
    const wrappedKeys = (raw.prepare('SELECT wrapped FROM data_keys').all() as { wrapped: Uint8Array }[]).map((row) => row.wrapped);
    raw.close();
    expect(ciphertexts).toHaveLength(2);

    store.withdraw('coding-practice');
    for (const bytes of [...ciphertexts, ...wrappedKeys, utf8(CANARY)]) expect(filesContaining(dir, bytes)).toEqual([]);
  });

  it('is found by the same scan when it is written in plaintext (the scan works)', () => {
    const { dir, store } = freshStore();
    store.close();
    const raw = new Database(join(dir, STORE_FILE));
    raw.exec('CREATE TABLE plaintext (body TEXT)');
    raw.prepare('INSERT INTO plaintext VALUES (?)').run(JSON.stringify(canaryWindow(1)));
    raw.close();
    expect(filesContaining(dir, utf8(CANARY))).toEqual([join(dir, STORE_FILE)]);
  });

  it.each([
    ['OFF', true],
    ['ON', false],
  ] as const)('with secure_delete %s, bytes deleted and checkpointed are still in the file: %s', (secureDelete, lingers) => {
    const { dir, store } = freshStore();
    store.putWindows([canaryWindow(1), sampleWindow(2)], 24);
    store.close();
    const [ciphertext] = ciphertextsOf(dir);
    if (!ciphertext) throw new Error('expected a stored window');
    // The store's own deletion, with only the pragma changed: the same scan must tell them apart.
    const raw = new Database(join(dir, STORE_FILE));
    raw.pragma(`secure_delete = ${secureDelete}`);
    raw.exec('CREATE TABLE plaintext (body TEXT)');
    raw.prepare('INSERT INTO plaintext VALUES (?)').run(CANARY);
    raw.pragma('wal_checkpoint(TRUNCATE)');
    raw.exec('DELETE FROM plaintext');
    raw.prepare('DELETE FROM windows WHERE ciphertext = ?').run(ciphertext);
    raw.pragma('wal_checkpoint(TRUNCATE)');
    raw.close();
    const expected = lingers ? [join(dir, STORE_FILE)] : [];
    expect(filesContaining(dir, utf8(CANARY))).toEqual(expected);
    expect(filesContaining(dir, ciphertext)).toEqual(expected);
  });
});
