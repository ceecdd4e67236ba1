/**
 * Opening a server database: the pragmas every file gets and the migration runner. Only
 * db/ touches better-sqlite3; the rest of the server sees the store types in db/store.ts.
 */
import Database from 'better-sqlite3';
import { CandorError } from '@candor/shared/errors';

export type SqliteDatabase = Database.Database;

/** One numbered migration; `up` runs inside the migration's transaction. */
export type Migration = { version: number; name: string; up: (db: SqliteDatabase) => void };

/**
 * Opens (creating if needed) a database owned by this process and brings it to the newest
 * schema. `secure_delete` overwrites freed pages, so deleted rows (erased participants) do
 * not linger in the file; WAL keeps readers in the other process unblocked. `synchronous = FULL`
 * syncs the WAL at every commit: an acknowledged batch or erasure outlives a power loss, not only
 * a crash, since the agent deletes its own copy once acknowledged (ingest's group commit keeps
 * the cost to one sync per group).
 * @throws CandorError `db.newer-schema` when the file was written by a newer Candor.
 */
export function openWritableDatabase(file: string, migrations: readonly Migration[]): SqliteDatabase {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('secure_delete = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db, migrations);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

const SYNCHRONOUS_LEVELS = ['off', 'normal', 'full', 'extra'] as const;

/** How a connection commits, read back from SQLite rather than assumed. */
export type Durability = { journalMode: string; synchronous: (typeof SYNCHRONOUS_LEVELS)[number] | 'unknown' };

export function durabilityOf(db: SqliteDatabase): Durability {
  const level = Number(db.pragma('synchronous', { simple: true }));
  return { journalMode: String(db.pragma('journal_mode', { simple: true })), synchronous: SYNCHRONOUS_LEVELS[level] ?? 'unknown' };
}

/** Opens another process's database for reading only (the two processes never write each other's files). */
export function openReadOnlyDatabase(file: string): SqliteDatabase {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  return db;
}

/** @throws CandorError `db.newer-schema`; a failing migration rolls back and rethrows. */
export function migrate(db: SqliteDatabase, migrations: readonly Migration[]): void {
  const ordered = [...migrations].sort((a, b) => a.version - b.version);
  const newest = ordered.at(-1)?.version ?? 0;
  const current = Number(db.pragma('user_version', { simple: true }));
  if (current > newest) {
    throw new CandorError('db.newer-schema', `database schema ${current} is newer than this build understands (${newest})`);
  }
  for (const migration of ordered) {
    if (migration.version <= current) continue;
    db.transaction(() => {
      migration.up(db);
      db.pragma(`user_version = ${migration.version}`);
    })();
  }
}

const statements = new WeakMap<SqliteDatabase, Map<string, Database.Statement>>();

/** A prepared statement, prepared once per connection: queries run on the ingest hot path. */
export function statement(db: SqliteDatabase, sql: string): Database.Statement {
  let cache = statements.get(db);
  if (!cache) {
    cache = new Map();
    statements.set(db, cache);
  }
  let prepared = cache.get(sql);
  if (!prepared) {
    prepared = db.prepare(sql);
    cache.set(sql, prepared);
  }
  return prepared;
}

/** After erasing rows: fold the WAL into the file and truncate it, so no old page survives there. */
export function checkpointAndTruncate(db: SqliteDatabase): void {
  db.pragma('wal_checkpoint(TRUNCATE)');
}
