/**
 * The API server's half of ingest: it checks who sent an envelope and whether they may, then
 * stores it sealed. It cannot open it: the study's secret key lives only in the aggregator.
 *
 * Envelopes that arrive together are stored together (group commit): every envelope received in
 * the same event-loop turn is checked and written in one transaction, and each request is
 * answered only after that transaction has committed. A commit (with `synchronous = FULL`, a sync
 * to disk) is the dominant cost of a store, so sharing it is most of what keeps ingest near the
 * speed of a bare insert. The checks run inside that transaction, so a withdrawal, an unpairing
 * or a study closing cannot land between an envelope's checks and its write.
 */
import { CryptoError } from '@candor/shared/crypto';
import { InvariantError } from '@candor/shared/errors';
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

/** What every envelope of one group shares: the aggregator's readiness and each study's current key, read once per group. */
type GroupReads = { available: boolean | undefined; studyKeys: Map<string, string | undefined> };

/**
 * Every check that needs no write: the sender is a paired device whose signature verifies, its
 * study is open and the envelope's version is approved and no newer than the current one, the
 * participant has not withdrawn, its newest consent is active, it consented to the envelope's
 * version, and the envelope is sealed to the study's current key. Whether each window started
 * while that consent was in force is inside the sealed payload: the aggregator decides it
 * (aggregate/consent.ts). Device, study, withdrawal and newest consent come from one indexed
 * query; only an envelope of an earlier version than the current one or than the consent costs a second.
 * Returns a refusal rather than throwing it, so one refusal does not undo the rest of the group.
 */
function admit(store: ApiStore, envelope: SealedEnvelope, now: Date, reads: GroupReads): EnvelopeToStore | Error {
  const { header } = envelope;
  const admission = store.ingestAdmission(header.senderKeyId);
  if (!admission) return new HttpError('ingest.unknown-device', 'no device is paired with this key');
  const { device, study, consent } = admission;
  try {
    verifier.verify(envelope, device.publicKey);
  } catch (error) {
    if (error instanceof CryptoError) return new HttpError('ingest.bad-signature', 'the signature does not verify');
    // A fault in the check itself fails this request only: nothing of it was written.
    return error instanceof Error ? error : new InvariantError('envelope verification failed');
  }
  // A device is paired for one study: an envelope it addresses to another is a replay or a forgery.
  if (header.studyId !== device.studyId) return new HttpError('ingest.batch-conflict', 'this device is not enrolled in that study');
  // Windows held on the device when a newer version was approved were captured under the
  // consent then in force, so an envelope may name any approved version up to the current one.
  if (study?.status !== 'open' || study.currentVersion === null || header.studyVersion > study.currentVersion) {
    return new HttpError('ingest.study-not-open', 'the study is not open for this version');
  }
  if (admission.withdrawn) return new HttpError('ingest.no-consent', 'this participant has withdrawn');
  // The newest receipt must be given/re-affirmed and unexpired: a participant who withdrew or let
  // consent lapse sends nothing. It may be for a newer version than the envelope's.
  const active =
    consent !== undefined &&
    (consent.state === 'given' || consent.state === 're-affirmed') &&
    consent.studyVersion >= header.studyVersion &&
    consent.validUntilMs !== null &&
    consent.validUntilMs > now.getTime();
  if (!active) return new HttpError('ingest.no-consent', 'no active consent for this study version');
  // The common case (current version, consent to it) costs no further read.
  if (header.studyVersion !== study.currentVersion || consent.studyVersion !== header.studyVersion) {
    const earlier = store.earlierVersionConsent({ deviceKeyId: device.keyId, studyId: header.studyId, studyVersion: header.studyVersion });
    if (!earlier.approved) return new HttpError('ingest.study-not-open', 'the study is not open for this version');
    if (!earlier.consented) return new HttpError('ingest.no-consent', 'no consent was given to this study version');
  }
  reads.available ??= store.aggregator.available();
  if (!reads.available) return new HttpError('aggregator.unavailable', 'ingest is not ready; retry later');
  if (!reads.studyKeys.has(header.studyId)) reads.studyKeys.set(header.studyId, store.aggregator.currentStudyKey(header.studyId)?.keyId);
  if (reads.studyKeys.get(header.studyId) !== header.recipientKeyId) {
    return new HttpError('ingest.wrong-recipient', "the envelope is not sealed to the study's current key");
  }
  return {
    batchId: header.batchId,
    studyId: header.studyId,
    studyVersion: header.studyVersion,
    deviceKeyId: device.keyId,
    receivedAt: now.toISOString(),
    envelope: JSON.stringify(envelope),
  };
}

type Waiting = { envelope: SealedEnvelope; now: Date; resolve: (answer: IngestAnswer) => void; reject: (error: unknown) => void };

/** Admits one envelope and stores it unless its batch id is held; runs inside the group's transaction. */
function storeOnce(store: ApiStore, waiting: Waiting, reads: GroupReads): IngestAnswer | Error {
  const row = admit(store, waiting.envelope, waiting.now, reads);
  if (row instanceof Error) return row;
  if (store.insertEnvelope(row)) return { status: 201, body: { batchId: row.batchId, status: 'stored' } };
  const owner = store.findEnvelopeOwner(row.batchId);
  if (owner?.deviceKeyId !== row.deviceKeyId || owner.studyId !== row.studyId) {
    return new HttpError('ingest.batch-conflict', 'this batch id is held for another sender or study');
  }
  return { status: 200, body: { batchId: row.batchId, status: 'duplicate' } };
}

const groups = new WeakMap<ApiStore, Waiting[]>();

/** Checks and writes one group in one transaction, then answers each request; a failed commit fails every request in it and stores none. */
function commitGroup(store: ApiStore): void {
  const group = groups.get(store) ?? [];
  groups.delete(store);
  const reads: GroupReads = { available: undefined, studyKeys: new Map() };
  let outcomes: (IngestAnswer | Error)[];
  try {
    outcomes = store.transaction(() => group.map((waiting) => storeOnce(store, waiting, reads)));
  } catch (error) {
    for (const waiting of group) waiting.reject(error);
    return;
  }
  group.forEach((waiting, index) => {
    const outcome = outcomes[index];
    if (outcome === undefined || outcome instanceof Error) waiting.reject(outcome);
    else waiting.resolve(outcome);
  });
}

/**
 * Checks an envelope and stores it once, in the transaction it shares with the others that
 * arrived in the same event-loop turn; resolves only after that transaction has committed.
 * Two copies of one batch in one group store one row: the first is `stored`, the second `duplicate`.
 * Rejects with HttpError `ingest.unknown-device`, `ingest.bad-signature`, `ingest.batch-conflict`
 * (another study, or a batch id already held for another sender or study), `ingest.study-not-open`,
 * `ingest.no-consent`, `aggregator.unavailable` or `ingest.wrong-recipient`; with the verifier's
 * error if the check itself fails; with the database's error if the commit fails.
 */
export function acceptEnvelope(store: ApiStore, envelope: SealedEnvelope, now: Date): Promise<IngestAnswer> {
  return new Promise((resolve, reject) => {
    let group = groups.get(store);
    if (!group) {
      group = [];
      groups.set(store, group);
      setImmediate(() => {
        commitGroup(store);
      });
    }
    group.push({ envelope, now, resolve, reject });
  });
}
