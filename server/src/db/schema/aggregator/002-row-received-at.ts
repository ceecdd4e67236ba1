import type { Migration } from '../../sqlite.ts';

/** When each participant row arrived, so rows older than the study's retention are deleted. */
export const migration002: Migration = {
  version: 2,
  name: 'row-received-at',
  up: (db) => {
    // Rows from before this migration count as received now: they get a full retention period.
    db.exec(`ALTER TABLE participant_rows ADD COLUMN received_at TEXT NOT NULL DEFAULT ''`);
    db.prepare(`UPDATE participant_rows SET received_at = ? WHERE received_at = ''`).run(new Date().toISOString());
  },
};
