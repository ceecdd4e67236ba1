/** The aggregator's own tables (its file alone), plus the cohort and quarantine reads the API server makes. */
import { statement, type SqliteDatabase } from '../sqlite.ts';

export type StudyKeyRow = { keyId: string; studyId: string; publicKey: Uint8Array; createdAt: string; retired: boolean };
export type CohortRow = { studyId: string; metric: string; participants: number; total: number; computedAt: string };
export type QuarantineRow = { batchId: string; studyId: string; reasons: string[]; at: string };

type RawStudyKey = { key_id: string; study_id: string; public_key: Buffer; created_at: string; retired: number };
const toStudyKey = (row: RawStudyKey): StudyKeyRow => ({
  keyId: row.key_id,
  studyId: row.study_id,
  publicKey: new Uint8Array(row.public_key),
  createdAt: row.created_at,
  retired: row.retired === 1,
});

export function insertStudyKey(db: SqliteDatabase, key: Omit<StudyKeyRow, 'retired'>): void {
  statement(db, 'INSERT INTO study_keys (key_id, study_id, public_key, created_at) VALUES (?, ?, ?, ?)').run(
    key.keyId,
    key.studyId,
    key.publicKey,
    key.createdAt,
  );
}

export function retireStudyKeys(db: SqliteDatabase, studyId: string): void {
  statement(db, 'UPDATE study_keys SET retired = 1 WHERE study_id = ?').run(studyId);
}

/** The key agents must seal to now. */
export function currentStudyKey(db: SqliteDatabase, studyId: string): StudyKeyRow | undefined {
  const row = statement(db, 'SELECT * FROM study_keys WHERE study_id = ? AND retired = 0 ORDER BY created_at DESC LIMIT 1').get(studyId) as
    | RawStudyKey
    | undefined;
  return row && toStudyKey(row);
}

export function findStudyKey(db: SqliteDatabase, keyId: string): StudyKeyRow | undefined {
  const row = statement(db, 'SELECT * FROM study_keys WHERE key_id = ?').get(keyId) as RawStudyKey | undefined;
  return row && toStudyKey(row);
}

export function findParticipantKey(db: SqliteDatabase, args: { studyId: string; pseudonym: string }): { keyId: string; wrappedKey: Uint8Array } | undefined {
  const row = statement(db, 'SELECT key_id, wrapped_key FROM participant_keys WHERE study_id = ? AND pseudonym = ?').get(args.studyId, args.pseudonym) as
    | { key_id: string; wrapped_key: Buffer }
    | undefined;
  return row && { keyId: row.key_id, wrappedKey: new Uint8Array(row.wrapped_key) };
}

export function insertParticipantKey(db: SqliteDatabase, args: { studyId: string; pseudonym: string; keyId: string; wrappedKey: Uint8Array }): void {
  statement(db, 'INSERT INTO participant_keys (study_id, pseudonym, key_id, wrapped_key) VALUES (?, ?, ?, ?)').run(
    args.studyId,
    args.pseudonym,
    args.keyId,
    args.wrappedKey,
  );
}

export function allParticipantKeys(db: SqliteDatabase): { studyId: string; pseudonym: string; keyId: string; wrappedKey: Uint8Array }[] {
  return (statement(db, 'SELECT * FROM participant_keys').all() as { study_id: string; pseudonym: string; key_id: string; wrapped_key: Buffer }[]).map(
    (row) => ({ studyId: row.study_id, pseudonym: row.pseudonym, keyId: row.key_id, wrappedKey: new Uint8Array(row.wrapped_key) }),
  );
}

export function replaceParticipantKeyWrapping(db: SqliteDatabase, args: { keyId: string; wrappedKey: Uint8Array }): void {
  statement(db, 'UPDATE participant_keys SET wrapped_key = ? WHERE key_id = ?').run(args.wrappedKey, args.keyId);
}

/** Inserts a row and returns its id, which the caller binds into the ciphertext's associated data. */
export function insertParticipantRowPlaceholder(db: SqliteDatabase, args: { studyId: string; pseudonym: string; batchId: string; receivedAt: string }): number {
  return Number(
    statement(db, "INSERT INTO participant_rows (study_id, pseudonym, batch_id, row, received_at) VALUES (?, ?, ?, x'', ?)").run(
      args.studyId,
      args.pseudonym,
      args.batchId,
      args.receivedAt,
    ).lastInsertRowid,
  );
}

/** Deletes a study's rows that arrived before `before`; returns how many. */
export function deleteRowsReceivedBefore(db: SqliteDatabase, args: { studyId: string; before: string }): number {
  return statement(db, 'DELETE FROM participant_rows WHERE study_id = ? AND received_at < ?').run(args.studyId, args.before).changes;
}

export function setParticipantRow(db: SqliteDatabase, args: { id: number; row: Uint8Array }): void {
  statement(db, 'UPDATE participant_rows SET row = ? WHERE id = ?').run(args.row, args.id);
}

export function participantRowsOfStudy(db: SqliteDatabase, studyId: string): { id: number; pseudonym: string; row: Uint8Array }[] {
  return (statement(db, 'SELECT id, pseudonym, row FROM participant_rows WHERE study_id = ? ORDER BY id').all(studyId) as { id: number; pseudonym: string; row: Buffer }[]).map(
    (row) => ({ id: row.id, pseudonym: row.pseudonym, row: new Uint8Array(row.row) }),
  );
}

export function deleteParticipant(db: SqliteDatabase, args: { studyId: string; pseudonym: string }): number {
  statement(db, 'DELETE FROM participant_keys WHERE study_id = ? AND pseudonym = ?').run(args.studyId, args.pseudonym);
  return statement(db, 'DELETE FROM participant_rows WHERE study_id = ? AND pseudonym = ?').run(args.studyId, args.pseudonym).changes;
}

export function lastProcessedSeq(db: SqliteDatabase): number {
  return (statement(db, 'SELECT coalesce(max(envelope_seq), 0) AS seq FROM processed').get() as { seq: number }).seq;
}

export function isBatchProcessed(db: SqliteDatabase, batchId: string): boolean {
  return statement(db, 'SELECT 1 FROM processed WHERE batch_id = ?').get(batchId) !== undefined;
}

export function markProcessed(db: SqliteDatabase, args: { seq: number; batchId: string; outcome: 'accepted' | 'quarantined' }): void {
  statement(db, 'INSERT INTO processed (envelope_seq, batch_id, outcome) VALUES (?, ?, ?)').run(args.seq, args.batchId, args.outcome);
}

export function insertQuarantine(db: SqliteDatabase, entry: QuarantineRow): void {
  statement(db, 'INSERT OR REPLACE INTO quarantine (batch_id, study_id, reasons, at) VALUES (?, ?, ?, ?)').run(
    entry.batchId,
    entry.studyId,
    JSON.stringify(entry.reasons),
    entry.at,
  );
}

export function quarantineOfStudy(db: SqliteDatabase, studyId: string): QuarantineRow[] {
  return (statement(db, 'SELECT * FROM quarantine WHERE study_id = ? ORDER BY at').all(studyId) as { batch_id: string; study_id: string; reasons: string; at: string }[]).map(
    (row) => ({ batchId: row.batch_id, studyId: row.study_id, reasons: JSON.parse(row.reasons) as string[], at: row.at }),
  );
}

export function replaceCohortResults(db: SqliteDatabase, args: { studyId: string; rows: readonly CohortRow[] }): void {
  statement(db, 'DELETE FROM cohort_results WHERE study_id = ?').run(args.studyId);
  const insert = statement(db, 'INSERT INTO cohort_results (study_id, metric, participants, total, computed_at) VALUES (?, ?, ?, ?, ?)');
  for (const row of args.rows) insert.run(row.studyId, row.metric, row.participants, row.total, row.computedAt);
}

export function cohortResultsOfStudy(db: SqliteDatabase, studyId: string): CohortRow[] {
  return (
    statement(db, 'SELECT * FROM cohort_results WHERE study_id = ? ORDER BY metric').all(studyId) as {
      study_id: string;
      metric: string;
      participants: number;
      total: number;
      computed_at: string;
    }[]
  ).map((row) => ({ studyId: row.study_id, metric: row.metric, participants: row.participants, total: row.total, computedAt: row.computed_at }));
}

export function isErased(db: SqliteDatabase, requestId: string): string | undefined {
  const row = statement(db, 'SELECT erased_at FROM erasures WHERE request_id = ?').get(requestId) as { erased_at: string } | undefined;
  return row?.erased_at;
}

export function insertErasure(db: SqliteDatabase, args: { requestId: string; erasedAt: string }): void {
  statement(db, 'INSERT OR IGNORE INTO erasures (request_id, erased_at) VALUES (?, ?)').run(args.requestId, args.erasedAt);
}
