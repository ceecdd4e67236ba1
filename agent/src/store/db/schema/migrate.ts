/**
 * Numbered migrations, one per file, each run in its own transaction with `user_version`,
 * so a kill mid-migration leaves the previous version intact.
 */
import type Database from 'better-sqlite3';
import { CandorError } from '@candor/shared/errors';
import { initial } from './001-initial.ts';

export type Migration = { version: number; name: string; sql: string };

export const MIGRATIONS: readonly Migration[] = [initial];

/** @throws CandorError `store.too-new` for a database written by a newer agent. */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new CandorError(
      'store.too-new',
      `the local store was written by a newer Candor agent (schema ${current}, this one knows ${latest}); update the agent`,
    );
  }
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      // PRAGMA takes no bound parameters; the version is a number from this file, not input.
      db.pragma(`user_version = ${String(migration.version)}`);
    })();
  }
}
