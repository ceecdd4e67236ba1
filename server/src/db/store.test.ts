import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { openWritableDatabase } from './sqlite.ts';
import { openApiStore } from './store.ts';
import { API_MIGRATIONS } from './schema/api/index.ts';

const dirs: string[] = [];
function files() {
  const dir = mkdtempSync(join(tmpdir(), 'candor-store-'));
  dirs.push(dir);
  return { apiDb: join(dir, 'api.db'), aggregatorDb: join(dir, 'aggregator.db') };
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('the server database', () => {
  it('opens with WAL, synchronous FULL, foreign keys and secure_delete on', () => {
    const db = openWritableDatabase(files().apiDb, API_MIGRATIONS);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('secure_delete', { simple: true })).toBe(1);
    expect(db.pragma('user_version', { simple: true })).toBe(API_MIGRATIONS.length);
    db.close();
  });

  it('reports that the API store syncs every commit to disk, so an acknowledged batch outlives a power loss', () => {
    const store = openApiStore(files());
    expect(store.durability()).toEqual({ journalMode: 'wal', synchronous: 'full' });
    store.close();
  });

  it('refuses a database written by a newer schema and leaves it untouched', () => {
    const { apiDb } = files();
    const raw = new Database(apiDb);
    raw.pragma('user_version = 99');
    raw.close();
    expect(() => openWritableDatabase(apiDb, API_MIGRATIONS)).toThrow(/newer/);
    const check = new Database(apiDb);
    expect(check.pragma('user_version', { simple: true })).toBe(99);
    check.close();
  });

  it('refuses to update or delete audit rows', () => {
    const db = openWritableDatabase(files().apiDb, API_MIGRATIONS);
    db.prepare("INSERT INTO audit_log VALUES (1, 'now', 'a', 'b', NULL, NULL, 'r', 'done', '0', '1')").run();
    expect(() => db.prepare("UPDATE audit_log SET reason = 'edited'").run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM audit_log').run()).toThrow(/append-only/);
    expect(db.prepare('SELECT reason FROM audit_log').pluck().all()).toEqual(['r']);
    db.close();
  });
});
