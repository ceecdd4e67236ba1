import type { Migration } from '../../sqlite.ts';

/** People, sessions, studies, devices, consent, sealed envelopes, erasure requests and the audit chain. */
export const migration001: Migration = {
  version: 1,
  name: 'initial',
  up: (db) => {
    db.exec(`
      CREATE TABLE users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
      ) STRICT;
      CREATE TABLE grants (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        role TEXT NOT NULL CHECK (role IN ('participant','researcher','privacy_reviewer','admin')),
        study_id TEXT,
        granted_by TEXT,
        created_at TEXT NOT NULL,
        UNIQUE (user_id, role, study_id)
      ) STRICT;
      CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        csrf_hash TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        user_id TEXT NOT NULL REFERENCES users(id),
        expires_at_ms INTEGER NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      CREATE TABLE studies (
        id TEXT PRIMARY KEY,
        created_by TEXT NOT NULL REFERENCES users(id),
        status TEXT NOT NULL CHECK (status IN ('draft','open','closed')),
        current_version INTEGER,
        created_at TEXT NOT NULL
      ) STRICT;
      CREATE TABLE study_versions (
        study_id TEXT NOT NULL REFERENCES studies(id),
        version INTEGER NOT NULL,
        body TEXT NOT NULL,
        scope_hash TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('draft','in_review','approved','rejected')),
        author_id TEXT NOT NULL REFERENCES users(id),
        reviewed_by TEXT,
        created_at TEXT NOT NULL,
        PRIMARY KEY (study_id, version)
      ) STRICT;
      CREATE TABLE pairing_codes (
        code_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        study_id TEXT NOT NULL REFERENCES studies(id),
        expires_at_ms INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE devices (
        key_id TEXT PRIMARY KEY,
        public_key BLOB NOT NULL,
        user_id TEXT NOT NULL REFERENCES users(id),
        study_id TEXT NOT NULL REFERENCES studies(id),
        pseudonym TEXT NOT NULL,
        paired_at TEXT NOT NULL
      ) STRICT;
      CREATE TABLE consent_receipts (
        receipt_id TEXT PRIMARY KEY,
        device_key_id TEXT NOT NULL REFERENCES devices(key_id),
        study_id TEXT NOT NULL,
        study_version INTEGER NOT NULL,
        state TEXT NOT NULL,
        valid_until_ms INTEGER,
        received_at_ms INTEGER NOT NULL,
        receipt TEXT NOT NULL
      ) STRICT;
      CREATE INDEX consent_by_device ON consent_receipts (device_key_id, study_id, received_at_ms);
      -- Sealed to the aggregator's study key: the API server stores them without being able to read them.
      CREATE TABLE envelopes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        batch_id TEXT NOT NULL UNIQUE,
        study_id TEXT NOT NULL,
        study_version INTEGER NOT NULL,
        device_key_id TEXT NOT NULL REFERENCES devices(key_id),
        received_at TEXT NOT NULL,
        envelope TEXT NOT NULL
      ) STRICT;
      CREATE TABLE erasure_requests (
        request_id TEXT PRIMARY KEY,
        study_id TEXT NOT NULL,
        device_key_id TEXT NOT NULL,
        pseudonym TEXT NOT NULL,
        requested_at TEXT NOT NULL
      ) STRICT;
      CREATE TABLE releases (
        id TEXT PRIMARY KEY,
        study_id TEXT NOT NULL REFERENCES studies(id),
        epsilon REAL NOT NULL,
        released_at TEXT NOT NULL,
        result TEXT NOT NULL
      ) STRICT;
      CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        study_id TEXT,
        target TEXT,
        reason TEXT NOT NULL,
        outcome TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      ) STRICT;
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
    `);
  },
};
