/**
 * One daemon a data dir. Asking the socket whether an agent answers is not enough: two
 * daemons started at the same instant both find nobody listening, and both open the journal,
 * the keys and the store. The lock is SQLite's exclusive lock on an empty database file, an
 * fcntl lock the kernel drops when the holder exits however it exits, so a daemon killed with
 * SIGKILL leaves nothing stale behind for the next one to judge.
 */
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { CandorError } from '@candor/shared/errors';

export type DataDirLock = { release(): void };

/**
 * Every held lock's connection. better-sqlite3 closes a connection that is garbage collected,
 * and with it the lock: a caller that dropped the returned object would lose the lock without
 * a word, so the module keeps each one until it is released.
 */
const held = new Set<Database.Database>();

/** How long a daemon keeps trying while another holds the lock, before it is refused. */
const CONTENDED_WAIT_MS = 2_000;

/**
 * Takes the data dir's daemon lock, held until `release` or the process ends.
 * @throws CandorError `daemon.already-running` when another process holds it.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const file = join(dataDir, 'daemon.lock');
  const deadline = Date.now() + CONTENDED_WAIT_MS;
  for (;;) {
    const lock = tryLock(file);
    if (lock) return lock;
    if (Date.now() >= deadline) throw new CandorError('daemon.already-running', `another Candor agent is running with the data dir ${dataDir}`);
    // SQLite climbs to an exclusive lock through a shared one, so two daemons trying at the
    // same instant can each hold the other back and both fail; each lets go of everything and
    // tries again after a random pause, so one of them gets it.
    await sleep(10 + Math.random() * 50);
  }
}

/** The lock, or null when another connection holds (or is taking) it. */
function tryLock(file: string): DataDirLock | null {
  const db = new Database(file, { timeout: 0 });
  try {
    chmodSync(file, 0o600);
    // Kept until the connection closes, and never written: the file stays empty.
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    db.close();
    if (error instanceof Database.SqliteError && error.code === 'SQLITE_BUSY') return null;
    throw error;
  }
  held.add(db);
  return {
    release() {
      held.delete(db);
      if (db.open) db.close();
    },
  };
}
