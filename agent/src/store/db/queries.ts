/**
 * Every SQL statement of the agent's store, as plain functions of `(db, args)`. Values are
 * always bound. Statements are prepared once per connection.
 */
import type Database from 'better-sqlite3';

type Db = Database.Database;

const prepared = new WeakMap<Db, Map<string, Database.Statement>>();

function sql(db: Db, text: string): Database.Statement {
  let cache = prepared.get(db);
  if (!cache) {
    cache = new Map();
    prepared.set(db, cache);
  }
  let statement = cache.get(text);
  if (!statement) {
    statement = db.prepare(text);
    cache.set(text, statement);
  }
  return statement;
}

export type DropReason = 'budget' | 'age' | 'rejected' | 'undecryptable';

export type WindowRow = {
  id: string;
  studyId: string;
  studyVersion: number;
  keyId: string;
  windowStart: number;
  windowEnd: number;
  storedAt: number;
  dueAt: number;
  batchId: string | null;
  ciphertext: Uint8Array;
};

export type BatchRow = { batchId: string; studyId: string; studyVersion: number; createdAt: number; attempts: number; nextAttemptAt: number };

export type ErasureRow = {
  requestId: string;
  studyId: string;
  deviceKeyId: string;
  body: string;
  attempts: number;
  nextAttemptAt: number;
  acknowledgedAt: number | null;
};

const WINDOW_COLUMNS = `id, study_id AS studyId, study_version AS studyVersion, key_id AS keyId, window_start AS windowStart,
  window_end AS windowEnd, stored_at AS storedAt, due_at AS dueAt, batch_id AS batchId, ciphertext`;
const BATCH_COLUMNS = `batch_id AS batchId, study_id AS studyId, study_version AS studyVersion, created_at AS createdAt,
  attempts, next_attempt_at AS nextAttemptAt`;
const ERASURE_COLUMNS = `request_id AS requestId, study_id AS studyId, device_key_id AS deviceKeyId, body, attempts,
  next_attempt_at AS nextAttemptAt, acknowledged_at AS acknowledgedAt`;

// --- keys and secrets -----------------------------------------------------------------------

export function insertDataKey(db: Db, args: { keyId: string; studyId: string; wrapped: Uint8Array; createdAt: number }): void {
  sql(db, 'INSERT INTO data_keys (key_id, study_id, wrapped, created_at) VALUES (?, ?, ?, ?)').run(
    args.keyId,
    args.studyId,
    args.wrapped,
    args.createdAt,
  );
}

export function selectWrappedDataKey(db: Db, keyId: string): Uint8Array | undefined {
  const row = sql(db, 'SELECT wrapped FROM data_keys WHERE key_id = ?').get(keyId) as { wrapped: Uint8Array } | undefined;
  return row?.wrapped;
}

export type WrappedRow = { kind: 'data-key' | 'secret'; name: string; wrapped: Uint8Array };

export function selectAllWrapped(db: Db): WrappedRow[] {
  return sql(
    db,
    `SELECT 'data-key' AS kind, key_id AS name, wrapped FROM data_keys UNION ALL SELECT 'secret' AS kind, name, wrapped FROM secrets`,
  ).all() as WrappedRow[];
}

export function updateWrapped(db: Db, row: WrappedRow): void {
  if (row.kind === 'data-key') sql(db, 'UPDATE data_keys SET wrapped = ? WHERE key_id = ?').run(row.wrapped, row.name);
  else sql(db, 'UPDATE secrets SET wrapped = ? WHERE name = ?').run(row.wrapped, row.name);
}

/** Deletes data keys that no window uses, except those still in use by a running session. */
export function deleteUnusedDataKeys(db: Db, activeKeyIds: readonly string[]): number {
  return sql(
    db,
    `DELETE FROM data_keys WHERE key_id NOT IN (SELECT value FROM json_each(?))
       AND NOT EXISTS (SELECT 1 FROM windows WHERE windows.key_id = data_keys.key_id)`,
  ).run(JSON.stringify(activeKeyIds)).changes;
}

export function selectSecret(db: Db, name: string): Uint8Array | undefined {
  const row = sql(db, 'SELECT wrapped FROM secrets WHERE name = ?').get(name) as { wrapped: Uint8Array } | undefined;
  return row?.wrapped;
}

export function insertSecret(db: Db, args: { name: string; wrapped: Uint8Array }): void {
  sql(db, 'INSERT INTO secrets (name, wrapped) VALUES (?, ?)').run(args.name, args.wrapped);
}

export function deleteSecret(db: Db, name: string): void {
  sql(db, 'DELETE FROM secrets WHERE name = ?').run(name);
}

// --- windows --------------------------------------------------------------------------------

export function insertWindow(db: Db, row: Omit<WindowRow, 'batchId'>): void {
  sql(
    db,
    `INSERT INTO windows (id, study_id, study_version, key_id, window_start, window_end, stored_at, due_at, ciphertext)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(row.id, row.studyId, row.studyVersion, row.keyId, row.windowStart, row.windowEnd, row.storedAt, row.dueAt, row.ciphertext);
}

export function selectWindows(db: Db, studyId: string | null): WindowRow[] {
  return sql(db, `SELECT ${WINDOW_COLUMNS} FROM windows WHERE @studyId IS NULL OR study_id = @studyId ORDER BY window_start, id`).all({
    studyId,
  }) as WindowRow[];
}

export function selectWindow(db: Db, id: string): WindowRow | undefined {
  return sql(db, `SELECT ${WINDOW_COLUMNS} FROM windows WHERE id = ?`).get(id) as WindowRow | undefined;
}

/** Deletes a window still held on the device (not yet given to a batch). */
export function deleteHeldWindow(db: Db, id: string): number {
  return sql(db, 'DELETE FROM windows WHERE id = ? AND batch_id IS NULL').run(id).changes;
}

/** Deletes held windows that overlap `[since, ∞)` or were stored since then. */
export function deleteHeldWindowsSince(db: Db, since: number): number {
  return sql(db, 'DELETE FROM windows WHERE batch_id IS NULL AND (window_end > @since OR stored_at >= @since)').run({ since }).changes;
}

export function countLeavingWindowsSince(db: Db, since: number): number {
  const row = sql(db, 'SELECT count(*) AS n FROM windows WHERE batch_id IS NOT NULL AND (window_end > @since OR stored_at >= @since)').get({
    since,
  }) as { n: number };
  return row.n;
}

export function deleteWindowById(db: Db, id: string): void {
  sql(db, 'DELETE FROM windows WHERE id = ?').run(id);
}

export function selectStudiesWithDueWindows(db: Db, now: number): string[] {
  return (
    sql(db, 'SELECT DISTINCT study_id AS studyId FROM windows WHERE batch_id IS NULL AND due_at <= ? ORDER BY study_id').all(now) as {
      studyId: string;
    }[]
  ).map((row) => row.studyId);
}

/** Due windows of one study, oldest version and window first. */
export function selectDueWindows(db: Db, args: { studyId: string; now: number; limit: number }): WindowRow[] {
  return sql(
    db,
    `SELECT ${WINDOW_COLUMNS} FROM windows WHERE study_id = ? AND batch_id IS NULL AND due_at <= ?
     ORDER BY study_version, window_start, id LIMIT ?`,
  ).all(args.studyId, args.now, args.limit) as WindowRow[];
}

export function selectNextDueAt(db: Db): number | null {
  const row = sql(db, 'SELECT min(due_at) AS at FROM windows WHERE batch_id IS NULL').get() as { at: number | null };
  return row.at;
}

export function queueSize(db: Db): { windows: number; bytes: number } {
  return sql(db, 'SELECT count(*) AS windows, coalesce(sum(length(ciphertext)), 0) AS bytes FROM windows').get() as {
    windows: number;
    bytes: number;
  };
}

export function selectOldestWindow(db: Db): { id: string; studyId: string; batchId: string | null; storedAt: number } | undefined {
  return sql(db, 'SELECT id, study_id AS studyId, batch_id AS batchId, stored_at AS storedAt FROM windows ORDER BY stored_at, window_start, id LIMIT 1').get() as
    | { id: string; studyId: string; batchId: string | null; storedAt: number }
    | undefined;
}

// --- batches --------------------------------------------------------------------------------

export function insertBatch(db: Db, row: BatchRow): void {
  sql(
    db,
    'INSERT INTO batches (batch_id, study_id, study_version, created_at, attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)',
  ).run(row.batchId, row.studyId, row.studyVersion, row.createdAt, row.attempts, row.nextAttemptAt);
}

export function assignWindowToBatch(db: Db, args: { id: string; batchId: string }): void {
  sql(db, 'UPDATE windows SET batch_id = ? WHERE id = ? AND batch_id IS NULL').run(args.batchId, args.id);
}

export function selectBatches(db: Db): BatchRow[] {
  return sql(db, `SELECT ${BATCH_COLUMNS} FROM batches ORDER BY created_at, batch_id`).all() as BatchRow[];
}

export function selectBatch(db: Db, batchId: string): BatchRow | undefined {
  return sql(db, `SELECT ${BATCH_COLUMNS} FROM batches WHERE batch_id = ?`).get(batchId) as BatchRow | undefined;
}

export function selectBatchWindows(db: Db, batchId: string): WindowRow[] {
  return sql(db, `SELECT ${WINDOW_COLUMNS} FROM windows WHERE batch_id = ? ORDER BY study_version, window_start, id`).all(
    batchId,
  ) as WindowRow[];
}

/** Deletes a batch and its windows; returns how many windows went. */
export function deleteBatch(db: Db, batchId: string): number {
  const windows = sql(db, 'DELETE FROM windows WHERE batch_id = ?').run(batchId).changes;
  sql(db, 'DELETE FROM batches WHERE batch_id = ?').run(batchId);
  return windows;
}

export function deferBatch(db: Db, args: { batchId: string; attempts: number; nextAttemptAt: number }): void {
  sql(db, 'UPDATE batches SET attempts = ?, next_attempt_at = ? WHERE batch_id = ?').run(args.attempts, args.nextAttemptAt, args.batchId);
}

// --- drops, withdrawal, erasure ------------------------------------------------------------

export function addDropped(db: Db, args: { studyId: string; reason: DropReason; count: number }): void {
  if (args.count === 0) return;
  sql(
    db,
    `INSERT INTO dropped (study_id, reason, count) VALUES (?, ?, ?)
     ON CONFLICT (study_id, reason) DO UPDATE SET count = count + excluded.count`,
  ).run(args.studyId, args.reason, args.count);
}

export function selectDropped(db: Db): { studyId: string; reason: DropReason; count: number }[] {
  return sql(db, 'SELECT study_id AS studyId, reason, count FROM dropped ORDER BY study_id, reason').all() as {
    studyId: string;
    reason: DropReason;
    count: number;
  }[];
}

export function insertWithdrawn(db: Db, args: { studyId: string; at: number }): void {
  sql(db, 'INSERT OR IGNORE INTO withdrawn (study_id, withdrawn_at) VALUES (?, ?)').run(args.studyId, args.at);
}

export function isWithdrawn(db: Db, studyId: string): boolean {
  return sql(db, 'SELECT 1 FROM withdrawn WHERE study_id = ?').get(studyId) !== undefined;
}

/** Deletes every window, batch and data key of a study; returns the number of windows. */
export function deleteStudy(db: Db, studyId: string): number {
  const windows = sql(db, 'DELETE FROM windows WHERE study_id = ?').run(studyId).changes;
  sql(db, 'DELETE FROM batches WHERE study_id = ?').run(studyId);
  sql(db, 'DELETE FROM data_keys WHERE study_id = ?').run(studyId);
  sql(db, 'DELETE FROM dropped WHERE study_id = ?').run(studyId);
  return windows;
}

export function insertErasure(db: Db, row: Omit<ErasureRow, 'attempts' | 'acknowledgedAt'>): void {
  sql(db, 'INSERT INTO erasure_outbox (request_id, study_id, device_key_id, body, next_attempt_at) VALUES (?, ?, ?, ?, ?)').run(
    row.requestId,
    row.studyId,
    row.deviceKeyId,
    row.body,
    row.nextAttemptAt,
  );
}

export function selectErasures(db: Db): ErasureRow[] {
  return sql(db, `SELECT ${ERASURE_COLUMNS} FROM erasure_outbox ORDER BY next_attempt_at, request_id`).all() as ErasureRow[];
}

export function deferErasure(db: Db, args: { requestId: string; attempts: number; nextAttemptAt: number }): void {
  sql(db, 'UPDATE erasure_outbox SET attempts = ?, next_attempt_at = ? WHERE request_id = ?').run(
    args.attempts,
    args.nextAttemptAt,
    args.requestId,
  );
}

export function acknowledgeErasure(db: Db, args: { requestId: string; at: number }): void {
  sql(db, 'UPDATE erasure_outbox SET acknowledged_at = ? WHERE request_id = ?').run(args.at, args.requestId);
}
