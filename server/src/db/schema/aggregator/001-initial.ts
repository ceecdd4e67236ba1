import type { Migration } from '../../sqlite.ts';

/**
 * The aggregator's own file. Participant rows are encrypted under per-participant random
 * keys (wrapped by the aggregator's master key); only `cohort_results` is read by the API server.
 */
export const migration001: Migration = {
  version: 1,
  name: 'initial',
  up: (db) => {
    db.exec(`
      CREATE TABLE study_keys (
        key_id TEXT PRIMARY KEY,
        study_id TEXT NOT NULL,
        public_key BLOB NOT NULL,
        created_at TEXT NOT NULL,
        retired INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      CREATE TABLE participant_keys (
        study_id TEXT NOT NULL,
        pseudonym TEXT NOT NULL,
        key_id TEXT NOT NULL UNIQUE,
        wrapped_key BLOB NOT NULL,
        PRIMARY KEY (study_id, pseudonym)
      ) STRICT;
      CREATE TABLE participant_rows (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        study_id TEXT NOT NULL,
        pseudonym TEXT NOT NULL,
        batch_id TEXT NOT NULL,
        row BLOB NOT NULL
      ) STRICT;
      CREATE INDEX participant_rows_by_study ON participant_rows (study_id, pseudonym);
      CREATE TABLE processed (
        envelope_seq INTEGER PRIMARY KEY,
        batch_id TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('accepted','quarantined'))
      ) STRICT;
      -- Reasons only, never content: reviewers see why an envelope was refused.
      CREATE TABLE quarantine (
        batch_id TEXT PRIMARY KEY,
        study_id TEXT NOT NULL,
        reasons TEXT NOT NULL,
        at TEXT NOT NULL
      ) STRICT;
      CREATE TABLE cohort_results (
        study_id TEXT NOT NULL,
        metric TEXT NOT NULL,
        participants INTEGER NOT NULL,
        total REAL NOT NULL,
        computed_at TEXT NOT NULL,
        PRIMARY KEY (study_id, metric)
      ) STRICT;
      CREATE TABLE erasures (
        request_id TEXT PRIMARY KEY,
        erased_at TEXT NOT NULL
      ) STRICT;
    `);
  },
};
