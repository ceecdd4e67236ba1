/** Sealed envelopes held for the aggregator, erasure requests and DP releases. */
import { statement, type SqliteDatabase } from '../sqlite.ts';

export type EnvelopeRow = {
  seq: number;
  batchId: string;
  studyId: string;
  studyVersion: number;
  deviceKeyId: string;
  receivedAt: string;
  envelope: string;
};
export type ErasureRequestRow = { requestId: string; studyId: string; deviceKeyId: string; pseudonym: string; requestedAt: string };
export type ReleaseRow = { id: string; studyId: string; epsilon: number; releasedAt: string; result: string };

type RawEnvelope = {
  seq: number;
  batch_id: string;
  study_id: string;
  study_version: number;
  device_key_id: string;
  received_at: string;
  envelope: string;
};
const toEnvelope = (row: RawEnvelope): EnvelopeRow => ({
  seq: row.seq,
  batchId: row.batch_id,
  studyId: row.study_id,
  studyVersion: row.study_version,
  deviceKeyId: row.device_key_id,
  receivedAt: row.received_at,
  envelope: row.envelope,
});

export function findEnvelopeOwner(db: SqliteDatabase, batchId: string): { studyId: string; deviceKeyId: string } | undefined {
  const row = statement(db, 'SELECT study_id, device_key_id FROM envelopes WHERE batch_id = ?').get(batchId) as
    | { study_id: string; device_key_id: string }
    | undefined;
  return row && { studyId: row.study_id, deviceKeyId: row.device_key_id };
}

/** Stores an envelope once; returns false when the batch id is already held. */
export function insertEnvelope(db: SqliteDatabase, envelope: Omit<EnvelopeRow, 'seq'>): boolean {
  return (
    statement(db, 
        'INSERT OR IGNORE INTO envelopes (batch_id, study_id, study_version, device_key_id, received_at, envelope) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(envelope.batchId, envelope.studyId, envelope.studyVersion, envelope.deviceKeyId, envelope.receivedAt, envelope.envelope).changes === 1
  );
}

export function envelopesAfter(db: SqliteDatabase, args: { seq: number; limit: number }): EnvelopeRow[] {
  return (statement(db, "SELECT * FROM envelopes WHERE seq > ? AND envelope <> '' ORDER BY seq LIMIT ?").all(args.seq, args.limit) as RawEnvelope[]).map(toEnvelope);
}

export function countEnvelopes(db: SqliteDatabase): number {
  return (statement(db, 'SELECT count(*) AS n FROM envelopes').get() as { n: number }).n;
}

export function deleteEnvelopesOfDevice(db: SqliteDatabase, deviceKeyId: string): number {
  return statement(db, 'DELETE FROM envelopes WHERE device_key_id = ?').run(deviceKeyId).changes;
}

export function insertErasureRequest(db: SqliteDatabase, request: ErasureRequestRow): void {
  statement(db, 'INSERT OR IGNORE INTO erasure_requests (request_id, study_id, device_key_id, pseudonym, requested_at) VALUES (?, ?, ?, ?, ?)').run(
    request.requestId,
    request.studyId,
    request.deviceKeyId,
    request.pseudonym,
    request.requestedAt,
  );
}

export function listErasureRequests(db: SqliteDatabase): ErasureRequestRow[] {
  return (
    statement(db, 'SELECT * FROM erasure_requests ORDER BY requested_at').all() as {
      request_id: string;
      study_id: string;
      device_key_id: string;
      pseudonym: string;
      requested_at: string;
    }[]
  ).map((row) => ({
    requestId: row.request_id,
    studyId: row.study_id,
    deviceKeyId: row.device_key_id,
    pseudonym: row.pseudonym,
    requestedAt: row.requested_at,
  }));
}

export function insertRelease(db: SqliteDatabase, release: ReleaseRow): void {
  statement(db, 'INSERT INTO releases (id, study_id, epsilon, released_at, result) VALUES (?, ?, ?, ?, ?)').run(
    release.id,
    release.studyId,
    release.epsilon,
    release.releasedAt,
    release.result,
  );
}

export function epsilonSpent(db: SqliteDatabase, studyId: string): number {
  return (statement(db, 'SELECT coalesce(sum(epsilon), 0) AS spent FROM releases WHERE study_id = ?').get(studyId) as { spent: number }).spent;
}

export function listReleases(db: SqliteDatabase, studyId: string): ReleaseRow[] {
  return (
    statement(db, 'SELECT * FROM releases WHERE study_id = ? ORDER BY released_at').all(studyId) as {
      id: string;
      study_id: string;
      epsilon: number;
      released_at: string;
      result: string;
    }[]
  ).map((row) => ({ id: row.id, studyId: row.study_id, epsilon: row.epsilon, releasedAt: row.released_at, result: row.result }));
}

export function hasErasureRequest(db: SqliteDatabase, deviceKeyId: string): boolean {
  return statement(db, 'SELECT 1 FROM erasure_requests WHERE device_key_id = ?').get(deviceKeyId) !== undefined;
}

/**
 * Empties the sealed body of every envelope up to `seq` (ones the aggregator has taken in).
 * The row stays, so a retry of the same batch is still answered as a duplicate.
 */
export function emptyEnvelopesUpTo(db: SqliteDatabase, seq: number): number {
  return statement(db, "UPDATE envelopes SET envelope = '' WHERE seq <= ? AND envelope <> ''").run(seq).changes;
}

export function countEnvelopesOfDevice(db: SqliteDatabase, deviceKeyId: string): number {
  return statement(db, 'SELECT count(*) FROM envelopes WHERE device_key_id = ?').pluck().get(deviceKeyId) as number;
}
