/**
 * The API server's half of ingest: it checks who sent an envelope and whether they may, then
 * stores it sealed. It cannot open it: the study's secret key lives only in the aggregator.
 *
 * Envelopes that arrive together are stored together (group commit): each request is checked on
 * its own, then every request checked in the same event-loop turn is written in one transaction,
 * and each is answered only after that transaction has committed. A commit is the dominant cost
 * of a store, so sharing it is most of what keeps ingest near the speed of a bare insert.
 */
import { CryptoError } from '@candor/shared/crypto';
import type { SealedEnvelope } from '@candor/shared/schemas/envelope';
import type { IngestAccepted } from '@candor/shared/schemas/ingest';
import type { ApiStore } from '../db/store.ts';
import type { EnvelopeRow } from '../db/queries/envelopes.ts';
import { HttpError } from '../http/errors.ts';
import { createEnvelopeVerifier } from './verify.ts';

export type IngestAnswer = { status: 200 | 201; body: IngestAccepted };
type EnvelopeToStore = Omit<EnvelopeRow, 'seq'>;

/** Native Ed25519 with a key cached per device; it decides exactly as `verifyEnvelope` does (./verify.ts). */
const verifier = createEnvelopeVerifier();

/**
 * Every check that needs no write: the sender is a paired device whose signature verifies, its
 * study is open at this version, its newest consent is active, and the envelope is sealed to the
 * study's current key. Device, study, withdrawal and consent come from one indexed query.
 * @throws HttpError for an unknown device, a bad signature, another study, a study that is not
 * open or another version, no consent, an aggregator not ready yet, or the wrong recipient key.
 */
export function admitEnvelope(store: ApiStore, envelope: SealedEnvelope, now: Date): EnvelopeToStore {
  const { header } = envelope;
  const admission = store.ingestAdmission(header.senderKeyId);
  if (!admission) throw new HttpError('ingest.unknown-device', 'no device is paired with this key');
  const { device, study, consent } = admission;
  try {
    verifier.verify(envelope, device.publicKey);
  } catch (error) {
    if (error instanceof CryptoError) throw new HttpError('ingest.bad-signature', 'the signature does not verify');
    throw error;
  }
  // A device is paired for one study: an envelope it addresses to another is a replay or a forgery.
  if (header.studyId !== device.studyId) throw new HttpError('ingest.batch-conflict', 'this device is not enrolled in that study');
  if (study?.status !== 'open' || study.currentVersion !== header.studyVersion) {
    throw new HttpError('ingest.study-not-open', 'the study is not open for this version');
  }
  // Consent decides, not the device: the newest receipt must be given/re-affirmed, unexpired and for this version.
  if (admission.withdrawn) throw new HttpError('ingest.no-consent', 'this participant has withdrawn');
  const active =
    consent !== undefined &&
    (consent.state === 'given' || consent.state === 're-affirmed') &&
    consent.studyVersion === header.studyVersion &&
    consent.validUntilMs !== null &&
    consent.validUntilMs > now.getTime();
  if (!active) throw new HttpError('ingest.no-consent', 'no active consent for this study version');
  if (!store.aggregator.available()) throw new HttpError('aggregator.unavailable', 'ingest is not ready; retry later');
  const recipient = store.aggregator.currentStudyKey(header.studyId);
  if (recipient?.keyId !== header.recipientKeyId) throw new HttpError('ingest.wrong-recipient', "the envelope is not sealed to the study's current key");
  return {
    batchId: header.batchId,
    studyId: header.studyId,
    studyVersion: header.studyVersion,
    deviceKeyId: device.keyId,
    receivedAt: now.toISOString(),
    envelope: JSON.stringify(envelope),
  };
}

/** Stores one admitted envelope unless its batch id is held; runs inside the group's transaction. Returns a refusal rather than throwing it, so one conflict does not undo the rest of the group. */
function storeOnce(store: ApiStore, row: EnvelopeToStore): IngestAnswer | HttpError {
  const owner = store.findEnvelopeOwner(row.batchId);
  if (owner) {
    if (owner.deviceKeyId !== row.deviceKeyId || owner.studyId !== row.studyId) {
      return new HttpError('ingest.batch-conflict', 'this batch id is held for another sender or study');
    }
    return { status: 200, body: { batchId: row.batchId, status: 'duplicate' } };
  }
  store.insertEnvelope(row);
  return { status: 201, body: { batchId: row.batchId, status: 'stored' } };
}

type Waiting = { row: EnvelopeToStore; resolve: (answer: IngestAnswer) => void; reject: (error: unknown) => void };
const groups = new WeakMap<ApiStore, Waiting[]>();

/** Writes one group in one transaction, then answers each request; a failed commit fails every request in it and stores none. */
function commitGroup(store: ApiStore): void {
  const group = groups.get(store) ?? [];
  groups.delete(store);
  let outcomes: (IngestAnswer | HttpError)[];
  try {
    outcomes = store.transaction(() => group.map((waiting) => storeOnce(store, waiting.row)));
  } catch (error) {
    for (const waiting of group) waiting.reject(error);
    return;
  }
  group.forEach((waiting, index) => {
    const outcome = outcomes[index];
    if (outcome === undefined || outcome instanceof HttpError) waiting.reject(outcome);
    else waiting.resolve(outcome);
  });
}

/**
 * Checks an envelope now and stores it once, in the transaction it shares with the others that
 * arrived in the same event-loop turn; resolves only after that transaction has committed.
 * Two copies of one batch in one group store one row: the first is `stored`, the second `duplicate`.
 * @throws HttpError as `admitEnvelope` (synchronously); rejects with HttpError `ingest.batch-conflict`
 * for a batch id already held for another sender or study, or with the database's error if the commit fails.
 */
export function acceptEnvelope(store: ApiStore, envelope: SealedEnvelope, now: Date): Promise<IngestAnswer> {
  const row = admitEnvelope(store, envelope, now);
  return new Promise((resolve, reject) => {
    let group = groups.get(store);
    if (!group) {
      group = [];
      groups.set(store, group);
      setImmediate(() => {
        commitGroup(store);
      });
    }
    group.push({ row, resolve, reject });
  });
}
