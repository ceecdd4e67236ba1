/** Pairing codes, devices and consent receipts. */
import { statement, type SqliteDatabase } from '../sqlite.ts';

export type DeviceRow = { keyId: string; publicKey: Uint8Array; userId: string; studyId: string; pseudonym: string; pairedAt: string };
export type ConsentRow = {
  receiptId: string;
  deviceKeyId: string;
  studyId: string;
  studyVersion: number;
  state: string;
  validUntilMs: number | null;
  receivedAtMs: number;
  receipt: string;
};

export function insertPairingCode(db: SqliteDatabase, args: { codeHash: string; userId: string; studyId: string; expiresAtMs: number }): void {
  statement(db, 'INSERT INTO pairing_codes (code_hash, user_id, study_id, expires_at_ms) VALUES (?, ?, ?, ?)').run(
    args.codeHash,
    args.userId,
    args.studyId,
    args.expiresAtMs,
  );
}

/** Deletes the code as it is read: a pairing code works once. */
export function takePairingCode(db: SqliteDatabase, codeHash: string): { userId: string; studyId: string; expiresAtMs: number } | undefined {
  const row = statement(db, 'DELETE FROM pairing_codes WHERE code_hash = ? RETURNING user_id, study_id, expires_at_ms').get(codeHash) as
    | { user_id: string; study_id: string; expires_at_ms: number }
    | undefined;
  return row && { userId: row.user_id, studyId: row.study_id, expiresAtMs: row.expires_at_ms };
}

type RawDevice = { key_id: string; public_key: Buffer; user_id: string; study_id: string; pseudonym: string; paired_at: string };
const toDevice = (row: RawDevice): DeviceRow => ({
  keyId: row.key_id,
  publicKey: new Uint8Array(row.public_key),
  userId: row.user_id,
  studyId: row.study_id,
  pseudonym: row.pseudonym,
  pairedAt: row.paired_at,
});

export function insertDevice(db: SqliteDatabase, device: DeviceRow): void {
  statement(db, 'INSERT INTO devices (key_id, public_key, user_id, study_id, pseudonym, paired_at) VALUES (?, ?, ?, ?, ?, ?)').run(
    device.keyId,
    device.publicKey,
    device.userId,
    device.studyId,
    device.pseudonym,
    device.pairedAt,
  );
}

export function findDevice(db: SqliteDatabase, keyId: string): DeviceRow | undefined {
  const row = statement(db, 'SELECT * FROM devices WHERE key_id = ?').get(keyId) as RawDevice | undefined;
  return row && toDevice(row);
}

export function devicesOfUser(db: SqliteDatabase, userId: string): DeviceRow[] {
  return (statement(db, 'SELECT * FROM devices WHERE user_id = ?').all(userId) as RawDevice[]).map(toDevice);
}

/** Returns false when a receipt with that id is already held. */
export function insertConsentReceipt(db: SqliteDatabase, consent: ConsentRow): boolean {
  return statement(db, 
    'INSERT OR IGNORE INTO consent_receipts (receipt_id, device_key_id, study_id, study_version, state, valid_until_ms, received_at_ms, receipt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  ).run(
    consent.receiptId,
    consent.deviceKeyId,
    consent.studyId,
    consent.studyVersion,
    consent.state,
    consent.validUntilMs,
    consent.receivedAtMs,
    consent.receipt,
  ).changes === 1;
}

/** The device's most recent consent event for a study: it alone decides whether uploads are accepted. */
export function latestConsent(db: SqliteDatabase, args: { deviceKeyId: string; studyId: string }): ConsentRow | undefined {
  const row = statement(db, 'SELECT * FROM consent_receipts WHERE device_key_id = ? AND study_id = ? ORDER BY received_at_ms DESC, rowid DESC LIMIT 1')
    .get(args.deviceKeyId, args.studyId) as
    | {
        receipt_id: string;
        device_key_id: string;
        study_id: string;
        study_version: number;
        state: string;
        valid_until_ms: number | null;
        received_at_ms: number;
        receipt: string;
      }
    | undefined;
  return (
    row && {
      receiptId: row.receipt_id,
      deviceKeyId: row.device_key_id,
      studyId: row.study_id,
      studyVersion: row.study_version,
      state: row.state,
      validUntilMs: row.valid_until_ms,
      receivedAtMs: row.received_at_ms,
      receipt: row.receipt,
    }
  );
}

export function consentReceiptsOfDevice(db: SqliteDatabase, deviceKeyId: string): string[] {
  return statement(db, 'SELECT receipt FROM consent_receipts WHERE device_key_id = ? ORDER BY received_at_ms, rowid').pluck().all(deviceKeyId) as string[];
}

/** Everything ingest decides on, read in one indexed query: the device, its study, whether it withdrew and its newest consent. */
export type IngestAdmission = {
  device: DeviceRow;
  study: { status: string; currentVersion: number | null } | undefined;
  withdrawn: boolean;
  consent: { state: string; studyVersion: number; validUntilMs: number | null } | undefined;
};

export function ingestAdmission(db: SqliteDatabase, keyId: string): IngestAdmission | undefined {
  const row = statement(
    db,
    `SELECT d.*, s.status AS study_status, s.current_version AS study_current_version,
            EXISTS (SELECT 1 FROM erasure_requests e WHERE e.device_key_id = d.key_id) AS withdrawn,
            c.state AS consent_state, c.study_version AS consent_version, c.valid_until_ms AS consent_valid_until_ms
       FROM devices d
       LEFT JOIN studies s ON s.id = d.study_id
       LEFT JOIN consent_receipts c ON c.rowid = (
         SELECT rowid FROM consent_receipts WHERE device_key_id = d.key_id AND study_id = d.study_id ORDER BY received_at_ms DESC, rowid DESC LIMIT 1)
      WHERE d.key_id = ?`,
  ).get(keyId) as
    | (RawDevice & {
        study_status: string | null;
        study_current_version: number | null;
        withdrawn: number;
        consent_state: string | null;
        consent_version: number | null;
        consent_valid_until_ms: number | null;
      })
    | undefined;
  if (!row) return undefined;
  return {
    device: toDevice(row),
    study: row.study_status === null ? undefined : { status: row.study_status, currentVersion: row.study_current_version },
    withdrawn: row.withdrawn === 1,
    consent:
      row.consent_state === null || row.consent_version === null
        ? undefined
        : { state: row.consent_state, studyVersion: row.consent_version, validUntilMs: row.consent_valid_until_ms },
  };
}

/**
 * For an envelope of a version older than the device's newest consent: whether that version
 * was approved and whether the device ever gave (or re-affirmed) consent to it. Which of its
 * windows that consent covered is the aggregator's to decide; the API server cannot see them.
 */
export function earlierVersionConsent(
  db: SqliteDatabase,
  args: { deviceKeyId: string; studyId: string; studyVersion: number },
): { approved: boolean; consented: boolean } {
  const row = statement(
    db,
    `SELECT EXISTS (SELECT 1 FROM study_versions WHERE study_id = ? AND version = ? AND state = 'approved') AS approved,
            EXISTS (SELECT 1 FROM consent_receipts WHERE device_key_id = ? AND study_id = ? AND study_version = ? AND state IN ('given', 're-affirmed')) AS consented`,
  ).get(args.studyId, args.studyVersion, args.deviceKeyId, args.studyId, args.studyVersion) as { approved: number; consented: number };
  return { approved: row.approved === 1, consented: row.consented === 1 };
}
