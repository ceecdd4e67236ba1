/**
 * What pairing keeps: the server's URL, its signing key as pinned (and the ids of those it
 * replaced along the server's endorsements), and for each
 * paired study the version the server offered and the aggregator's sealing key. Kept as one
 * AEAD record (`pairing.sealed`, 0600) under a key derived from a random 32-byte secret the
 * local store holds wrapped by the device master key, so the record is as protected as the
 * store's own keys, survives the master-key rotation of a withdrawal (the store re-wraps it),
 * and a record edited or swapped on disk fails to open instead of redirecting uploads.
 *
 * The store has no named-secret call yet, so that secret lives in its device-key slot under
 * a name that can never be a study id (a Slug has no spaces): PAIRING_SECRET_SLOT.
 */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { decryptRecord, deriveSubkey, encryptRecord, wipe, type SigningKeyPair } from '@candor/shared/crypto';
import { fromUtf8, utf8 } from '@candor/shared/encoding';
import { CandorError } from '@candor/shared/errors';
import { KeyId, UtcTimestamp } from '@candor/shared/schemas/primitives';
import { StudyVersion } from '@candor/shared/schemas/study';
import { parseUnknown } from '@candor/shared/validation';
import { PublicKeyView } from './server-api.ts';

export const PAIRING_FILE = 'pairing.sealed';

/** The store slot whose secret keys the pairing record; not a Slug, so no study can collide with it. */
export const PAIRING_SECRET_SLOT = 'pairing record';

const KDF_CONTEXT = 'pairing_';
const RECORD_KEY_ID = 'pairing-record/v1';
const ASSOCIATED_DATA = utf8('candor/pairing-record/v1');

export const PairedStudy = z.strictObject({
  study: StudyVersion,
  aggregatorKey: PublicKeyView,
  deviceKeyId: KeyId,
  pairedAt: UtcTimestamp,
});
export type PairedStudy = z.infer<typeof PairedStudy>;

export const PairingRecord = z.strictObject({
  /** The server's origin, https (or http to this machine). */
  serverUrl: z.string(),
  /**
   * Pinned at pairing: a later pairing answer with another key is refused. It moves only along
   * the server's endorsement chain (pairing.ts), walked from this key.
   */
  serverKey: PublicKeyView,
  /** The keys pinned before, oldest first, each left by following an endorsement from it. */
  formerServerKeyIds: z.array(KeyId).default([]),
  studies: z.array(PairedStudy),
});
export type PairingRecord = z.infer<typeof PairingRecord>;

/** Hands out a copy of the store-held secret behind the record key; the caller wipes it. */
export type PairingSecretSource = () => SigningKeyPair;

function recordKey(secret: PairingSecretSource): { keyId: string; key: Uint8Array } {
  const pair = secret();
  try {
    // The first 32 bytes of an Ed25519 secret key are its random seed.
    return { keyId: RECORD_KEY_ID, key: deriveSubkey(pair.secretKey.subarray(0, 32), KDF_CONTEXT, 1) };
  } finally {
    wipe(pair.secretKey);
  }
}

/**
 * Reads the pairing record in `dataDir`; null when the agent was never paired.
 * @throws CandorError `pairing.unreadable` when the file is damaged, was changed, or was
 * written under keys this store no longer has.
 */
export function readPairingRecord(dataDir: string, secret: PairingSecretSource): PairingRecord | null {
  const path = join(dataDir, PAIRING_FILE);
  if (!existsSync(path)) return null;
  const key = recordKey(secret);
  let plaintext: Uint8Array;
  try {
    plaintext = decryptRecord(readFileSync(path), (keyId) => (keyId === RECORD_KEY_ID ? key.key : undefined), ASSOCIATED_DATA);
  } catch (error) {
    throw new CandorError('pairing.unreadable', `the pairing record ${path} cannot be opened (damaged, changed, or from another store); move it aside and pair again`, { cause: error });
  } finally {
    wipe(key.key);
  }
  try {
    return parseUnknown(PairingRecord, JSON.parse(fromUtf8(plaintext)) as unknown, 'pairing record');
  } finally {
    wipe(plaintext);
  }
}

/**
 * Replaces the pairing record in `dataDir` in one step: written to a temporary file, synced,
 * then renamed over the old one, so a crash leaves the old record or the new, never half.
 * @throws CandorError `pairing.write-failed` when the file cannot be written.
 */
export function writePairingRecord(dataDir: string, secret: PairingSecretSource, record: PairingRecord): void {
  const path = join(dataDir, PAIRING_FILE);
  const temporary = `${path}.tmp`;
  const key = recordKey(secret);
  let sealed: Uint8Array;
  try {
    sealed = encryptRecord(key, utf8(JSON.stringify(parseUnknown(PairingRecord, record, 'pairing record'))), ASSOCIATED_DATA);
  } finally {
    wipe(key.key);
  }
  try {
    const fd = openSync(temporary, 'w', 0o600);
    try {
      writeSync(fd, sealed);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (error) {
    throw new CandorError('pairing.write-failed', `the pairing record could not be written in ${dataDir}; nothing was kept`, { cause: error });
  }
}
