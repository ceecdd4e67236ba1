/**
 * One daemon a data dir. Asking the socket whether an agent answers is not enough: two
 * daemons started at the same instant both find nobody listening, and both open the journal,
 * the keys and the store. The lock is SQLite's exclusive lock on an empty database file, an
 * fcntl lock the kernel drops when the holder exits however it exits, so a daemon killed with
 * SIGKILL leaves nothing stale behind for the next one to judge.
 */
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CandorError } from '@candor/shared/errors';

export type DataDirLock = { release(): void };

/**
 * Takes the data dir's daemon lock, held until `release` or the process ends.
 * @throws CandorError `daemon.already-running` when another process holds it.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const file = join(dataDir, 'daemon.lock');
  const db = new Database(file, { timeout: 0 });
  try {
    chmodSync(file, 0o600);
    // Kept until the connection closes, and never written: the file stays empty.
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    db.close();
    if (error instanceof Database.SqliteError && error.code === 'SQLITE_BUSY') {
      throw new CandorError('daemon.already-running', `another Candor agent is running with the data dir ${dataDir}`);
    }
    throw error;
  }
  return {
    release() {
      if (db.open) db.close();
    },
  };
}
