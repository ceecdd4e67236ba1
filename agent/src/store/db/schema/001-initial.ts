import type { Migration } from './migrate.ts';

/**
 * The first schema. Window content exists only as `ciphertext` (one AEAD record per row);
 * the clear columns are what scheduling needs: study, times, size, batch.
 */
export const initial: Migration = {
  version: 1,
  name: 'initial',
  sql: `
    CREATE TABLE data_keys (
      key_id TEXT PRIMARY KEY,
      study_id TEXT NOT NULL,
      wrapped BLOB NOT NULL,
      created_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE batches (
      batch_id TEXT PRIMARY KEY,
      study_id TEXT NOT NULL,
      study_version INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      next_attempt_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE windows (
      id TEXT PRIMARY KEY,
      study_id TEXT NOT NULL,
      study_version INTEGER NOT NULL,
      key_id TEXT NOT NULL REFERENCES data_keys (key_id),
      window_start INTEGER NOT NULL,
      window_end INTEGER NOT NULL,
      stored_at INTEGER NOT NULL,
      due_at INTEGER NOT NULL,
      batch_id TEXT REFERENCES batches (batch_id),
      ciphertext BLOB NOT NULL
    ) STRICT;
    CREATE INDEX windows_by_due ON windows (study_id, batch_id, due_at, window_start);
    CREATE INDEX windows_by_batch ON windows (batch_id);
    CREATE INDEX windows_by_stored ON windows (stored_at);
    CREATE INDEX windows_by_key ON windows (key_id);

    CREATE TABLE secrets (
      name TEXT PRIMARY KEY,
      wrapped BLOB NOT NULL
    ) STRICT;

    CREATE TABLE dropped (
      study_id TEXT NOT NULL,
      reason TEXT NOT NULL,
      count INTEGER NOT NULL,
      PRIMARY KEY (study_id, reason)
    ) STRICT;

    CREATE TABLE withdrawn (
      study_id TEXT PRIMARY KEY,
      withdrawn_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE erasure_outbox (
      request_id TEXT PRIMARY KEY,
      study_id TEXT NOT NULL,
      device_key_id TEXT NOT NULL,
      body TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      next_attempt_at INTEGER NOT NULL,
      acknowledged_at INTEGER
    ) STRICT;
  `,
};
