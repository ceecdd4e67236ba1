import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { generateDataKey, unwrapDataKey, type DataKey } from '@candor/shared/crypto';
import { CandorError } from '@candor/shared/errors';
import { ValidationError } from '@candor/shared/validation';
import { openKeyRing, type KeyRing } from '../keys/keyring.ts';
import { migrate, MIGRATIONS } from './db/schema/migrate.ts';
import { sampleWindow } from './sample-windows.ts';
import { openStore, STORE_FILE, type LocalStore } from './store.ts';

const HOUR = 3_600_000;
const dirs: string[] = [];
const stores: LocalStore[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'candor-store-'));
  dirs.push(dir);
  return dir;
}

/** The real key-file backend (no session bus in `env`, so no keychain is probed). */
function keyRingIn(dir: string): KeyRing {
  return openKeyRing({ keyDir: join(dir, 'keys'), env: {} });
}

function open(dir: string, now = () => Date.UTC(2026, 10, 23, 12), budget?: { maxBytes?: number; maxAgeMs?: number }): LocalStore {
  const store = openStore({ dataDir: dir, keyRing: keyRingIn(dir), now, ...(budget ? { budget } : {}) });
  stores.push(store);
  return store;
}

function codeOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    if (error instanceof CandorError) return error.code;
    throw error;
  }
  throw new Error('expected a CandorError');
}

afterEach(() => {
  for (const store of stores.splice(0)) store.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('opening the store', () => {
  it('asserts WAL, synchronous FULL, secure_delete, foreign keys, a busy timeout, in-memory temp files and a small page cache', () => {
    expect(open(tempDir()).pragmas()).toEqual({
      journal_mode: 'wal',
      synchronous: 2,
      secure_delete: 1,
      foreign_keys: 1,
      busy_timeout: 5000,
      temp_store: 2,
      cache_size: -512,
    });
  });

  it('refuses a database written by a newer agent and leaves it untouched', () => {
    const dir = tempDir();
    open(dir).close();
    const raw = new Database(join(dir, STORE_FILE));
    raw.pragma('user_version = 99');
    raw.close();
    expect(codeOf(() => open(dir))).toBe('store.too-new');
    const check = new Database(join(dir, STORE_FILE));
    expect(check.pragma('user_version', { simple: true })).toBe(99);
    check.close();
  });

  it('runs each migration in a transaction, so a failing one leaves the previous version intact', () => {
    const db = new Database(':memory:');
    const broken = { version: 2, name: 'broken', sql: 'CREATE TABLE half_done (a INTEGER); INSERT INTO no_such_table VALUES (1);' };
    expect(() => {
      migrate(db, [...MIGRATIONS, broken]);
    }).toThrow(/no_such_table/);
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'half_done'").get()).toEqual({ n: 0 });
    db.close();
  });

  it('refuses to open when the master key that wraps existing data is gone', () => {
    const dir = tempDir();
    const store = open(dir);
    store.putWindows([sampleWindow(1)], 24);
    store.close();
    rmSync(join(dir, 'keys'), { recursive: true });
    expect(codeOf(() => open(dir))).toBe('store.keys-lost');
  });
});

describe('storing and reviewing windows', () => {
  it('lists each held window with what it would send, in plain language', () => {
    const store = open(tempDir());
    const [id] = store.putWindows([sampleWindow(41)], 24);
    expect(store.listPending({ timeZone: 'UTC' })).toEqual([
      {
        id,
        studyId: 'coding-practice',
        studyVersion: 1,
        windowStart: '2026-11-16T10:15:00.000Z',
        dueAt: '2026-11-24T12:00:00.000Z',
        leaving: false,
        description: '15 min from 10:15: 3 shortcuts (Ctrl+C ×2, Ctrl+S ×1)',
      },
    ]);
  });

  it('stores nothing when one window of a group is invalid, and names the field without echoing input', () => {
    const store = open(tempDir());
    const typed = { ...sampleWindow(2), aggregate: { signal: 'typed-vocabulary', counts: { 'my secret phrase': 1 } } };
    expect(() => store.putWindows([sampleWindow(1), typed], 24)).toThrow(ValidationError);
    expect(() => store.putWindows([typed], 24)).not.toThrow(/secret/);
    expect(store.listPending()).toEqual([]);
  });

  it.each([
    ['a negative hold', (store: LocalStore) => store.putWindows([sampleWindow(1)], -1), 'store.bad-hold'],
    ['a hold that is not a number', (store: LocalStore) => store.putWindows([sampleWindow(1)], Number.NaN), 'store.bad-hold'],
    ['forgetting since a time that is not a number', (store: LocalStore) => store.forgetSince(Number.NaN), 'store.bad-time'],
  ])('refuses %s with a clear error and changes nothing', (_, action, code) => {
    const store = open(tempDir());
    store.putWindows([sampleWindow(2)], 24);
    expect(codeOf(() => action(store))).toBe(code);
    expect(store.listPending()).toHaveLength(1);
  });

  it('deletes a held window for good, and reports an unknown id', () => {
    const store = open(tempDir());
    const [first, second] = store.putWindows([sampleWindow(1), sampleWindow(2)], 24);
    expect(store.deleteWindow(first ?? '')).toBe('deleted');
    expect(store.deleteWindow(first ?? '')).toBe('not-found');
    expect(store.listPending().map((window) => window.id)).toEqual([second]);
  });

  it('forgets every window that overlaps the time since a moment or was stored since then', () => {
    let now = Date.parse('2026-11-16T10:19:00.000Z');
    const store = open(tempDir(), () => now);
    store.putWindows([sampleWindow(40), sampleWindow(41)], 24); // 10:00–10:15 and 10:15–10:30, stored at 10:19
    now = Date.parse('2026-11-16T11:20:00.000Z');
    store.putWindows([sampleWindow(43)], 24); // 10:45–11:00, stored at 11:20
    const result = store.forgetSince(Date.parse('2026-11-16T10:20:00.000Z'));
    expect(result).toEqual({ deleted: 2, leaving: 0 });
    expect(store.listPending().map((window) => window.windowStart)).toEqual(['2026-11-16T10:00:00.000Z']);
  });

  it('will not recall a window already handed to the uploader, and says so', () => {
    const now = Date.UTC(2026, 10, 23, 12);
    const store = open(tempDir(), () => now);
    const [id] = store.putWindows([sampleWindow(1)], 0);
    expect(store.prepareBatch('coding-practice', now)?.windowCount).toBe(1);
    expect(store.deleteWindow(id ?? '')).toBe('leaving');
    expect(store.forgetSince(0)).toEqual({ deleted: 0, leaving: 1 });
    expect(store.listPending()[0]?.leaving).toBe(true);
  });

  it('holds windows for the study hold period before they can be batched', () => {
    const now = Date.UTC(2026, 10, 23, 12);
    const store = open(tempDir(), () => now);
    store.putWindows([sampleWindow(1)], 24);
    expect(store.prepareBatch('coding-practice', now + 24 * HOUR - 1)).toBeNull();
    expect(store.prepareBatch('coding-practice', now + 24 * HOUR)?.windowCount).toBe(1);
  });
});

describe('encryption at rest', () => {
  it('fails to decrypt ciphertexts swapped between rows, and never batches them', () => {
    const dir = tempDir();
    const now = Date.UTC(2026, 10, 23, 12);
    const store = open(dir, () => now);
    store.putWindows([sampleWindow(1), sampleWindow(2), sampleWindow(3)], 0);
    store.close();
    const raw = new Database(join(dir, STORE_FILE));
    const rows = raw.prepare('SELECT id, ciphertext FROM windows ORDER BY window_start').all() as { id: string; ciphertext: Uint8Array }[];
    const [a, b] = rows;
    if (!a || !b) throw new Error('expected rows');
    raw.prepare('UPDATE windows SET ciphertext = ? WHERE id = ?').run(b.ciphertext, a.id);
    raw.prepare('UPDATE windows SET ciphertext = ? WHERE id = ?').run(a.ciphertext, b.id);
    raw.close();

    const reopened = open(dir, () => now);
    expect(reopened.listPending().map((window) => window.description.startsWith('unreadable'))).toEqual([true, true, false]);
    const batch = reopened.prepareBatch('coding-practice', now);
    expect(batch?.windowCount).toBe(1);
    expect(reopened.status().dropped.undecryptable).toBe(2);
  });

  it('wipes the master key and the data keys it holds when it closes', () => {
    const dir = tempDir();
    const master = generateDataKey();
    const saved: DataKey[][] = [];
    const ring: KeyRing = {
      backend: { kind: 'key-file', path: join(dir, 'unused'), description: 'in memory, for this test' },
      load: () => [master],
      save: (keys) => saved.push([...keys]),
    };
    const store = openStore({ dataDir: dir, keyRing: ring });
    store.putWindows([sampleWindow(1)], 24);
    expect(master.key.some((byte) => byte !== 0)).toBe(true);
    store.close();
    expect(master.key.every((byte) => byte === 0)).toBe(true);
  });

  it('makes a new random data key per session and deletes a session key no window uses', () => {
    const dir = tempDir();
    const store = open(dir);
    store.startSession('coding-practice');
    store.putWindows([sampleWindow(1)], 24);
    store.startSession('coding-practice');
    store.putWindows([sampleWindow(2)], 24);
    store.startSession('coding-practice');
    store.endSession('coding-practice');
    store.close();
    const raw = new Database(join(dir, STORE_FILE));
    const keys = raw.prepare('SELECT DISTINCT key_id AS keyId FROM windows').all();
    expect(keys).toHaveLength(2);
    expect(raw.prepare('SELECT count(*) AS n FROM data_keys').get()).toEqual({ n: 2 });
    raw.close();
  });
});

describe('withdrawal', () => {
  it('deletes the study, and a copy of the database taken before cannot be decrypted afterwards', () => {
    const dir = tempDir();
    const store = open(dir);
    store.putWindows([sampleWindow(1), sampleWindow(2, { studyId: 'other-study' })], 24);
    store.close();
    const copy = tempDir();
    cpSync(join(dir, STORE_FILE), join(copy, STORE_FILE));

    const live = open(dir);
    const request = live.withdraw('coding-practice');
    expect(request?.request.studyId).toBe('coding-practice');
    expect(live.listPending().map((window) => window.studyId)).toEqual(['other-study']);
    expect(live.isWithdrawn('coding-practice')).toBe(true);
    expect(codeOf(() => live.putWindows([sampleWindow(3)], 24))).toBe('store.withdrawn');
    live.close();

    // The copy with today's key ring: every key in it was wrapped by the destroyed master.
    cpSync(join(dir, 'keys'), join(copy, 'keys'), { recursive: true });
    const [master] = keyRingIn(copy).load();
    if (!master) throw new Error('expected a master key');
    const raw = new Database(join(copy, STORE_FILE), { readonly: true });
    const wrapped = raw.prepare('SELECT key_id AS keyId, wrapped FROM data_keys').all() as { keyId: string; wrapped: Uint8Array }[];
    raw.close();
    expect(wrapped.length).toBeGreaterThan(0);
    for (const row of wrapped) expect(() => unwrapDataKey(master, row.keyId, row.wrapped)).toThrow(/no key for this record/);
    const restored = open(copy);
    expect(restored.listPending().map((window) => window.description)).toEqual([
      'unreadable (it will be dropped, never sent)',
      'unreadable (it will be dropped, never sent)',
    ]);
    expect(restored.prepareBatch('coding-practice', Date.UTC(2027, 0, 1))).toBeNull();
    // The other study's windows survived the rotation.
    expect(open(dir).listPending().map((window) => window.description)).toEqual([expect.stringMatching(/shortcuts/)]);
  });

  it('never makes a new device key for a study withdrawn from, nor withdraws twice; a study never paired asks no erasure', () => {
    const dir = tempDir();
    const store = open(dir);
    store.putWindows([sampleWindow(1), sampleWindow(2, { studyId: 'other-study' })], 24);
    expect(store.withdraw('coding-practice')).not.toBeNull();
    expect(codeOf(() => store.deviceKey('coding-practice'))).toBe('store.withdrawn');
    expect(codeOf(() => store.withdraw('coding-practice'))).toBe('store.withdrawn');
    expect(store.withdraw('other-study', { requestErasure: false })).toBeNull();
    expect(codeOf(() => store.withdraw('other-study', { requestErasure: false }))).toBe('store.withdrawn');
    expect(store.status()).toMatchObject({ windows: 0, erasuresAwaitingAck: 1 });
    store.close();
  });

  it('finishes a master-key rotation that a kill interrupted before the database commit', () => {
    const dir = tempDir();
    const store = open(dir);
    store.putWindows([sampleWindow(1)], 24);
    store.close();
    const ring = keyRingIn(dir);
    const [old] = ring.load();
    if (!old) throw new Error('expected a master key');
    ring.save([old, generateDataKey()]); // the state between "new key saved" and the commit
    const reopened = open(dir);
    expect(reopened.listPending()).toHaveLength(1);
    expect(keyRingIn(dir).load().map((key) => key.keyId)).not.toContain(old.keyId);
  });
});

describe('offline budget', () => {
  it('drops the oldest windows first when the queue outgrows its byte budget, and counts them', () => {
    const store = open(tempDir(), undefined, { maxBytes: 2_000 });
    for (let index = 0; index < 20; index += 1) store.putWindows([sampleWindow(index)], 24);
    const kept = store.listPending().map((window) => window.windowStart);
    const status = store.status();
    expect(status.bytes).toBeLessThanOrEqual(2_000);
    expect(status.dropped.budget).toBe(20 - kept.length);
    expect(kept[0]).toBe(sampleWindow(20 - kept.length).windowStart);
    expect(kept.at(-1)).toBe(sampleWindow(19).windowStart);
  });

  it('drops windows held longer than the offline age limit, and counts them', () => {
    let now = Date.UTC(2026, 10, 23, 12);
    const store = open(tempDir(), () => now, { maxAgeMs: 7 * 24 * HOUR });
    store.putWindows([sampleWindow(1)], 24);
    now += 3 * 24 * HOUR;
    store.putWindows([sampleWindow(2)], 24);
    now += 4 * 24 * HOUR + 1;
    expect(store.enforceBudget()).toBe(1);
    expect(store.listPending().map((window) => window.windowStart)).toEqual([sampleWindow(2).windowStart]);
    expect(store.status().dropped.age).toBe(1);
  });

  it('never accepts a budget looser than the limits', () => {
    let now = Date.UTC(2026, 10, 23, 12);
    const store = open(tempDir(), () => now, { maxBytes: Number.MAX_SAFE_INTEGER, maxAgeMs: Number.MAX_SAFE_INTEGER });
    store.putWindows([sampleWindow(1)], 24);
    now += 7 * 24 * HOUR + 1;
    expect(store.enforceBudget()).toBe(1);
  });
});
