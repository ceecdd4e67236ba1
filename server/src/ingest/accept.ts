/**
 * The API server's half of ingest: it checks who sent an envelope and whether they may, then
 * stores it sealed. It cannot open it: the study's secret key lives only in the aggregator.
 */
import { verifyEnvelope, CryptoError } from '@candor/shared/crypto';
import type { SealedEnvelope } from '@candor/shared/schemas/envelope';
import type { IngestAccepted } from '@candor/shared/schemas/ingest';
import type { ApiStore } from '../db/store.ts';
import type { DeviceRow } from '../db/queries/devices.ts';
import { HttpError } from '../http/errors.ts';

/** @throws HttpError `ingest.unknown-device` or `ingest.bad-signature`. */
export function verifiedDevice(store: ApiStore, keyId: string, check: (device: DeviceRow) => void): DeviceRow {
  const device = store.findDevice(keyId);
  if (!device) throw new HttpError('ingest.unknown-device', 'no device is paired with this key');
  try {
    check(device);
  } catch (error) {
    if (error instanceof CryptoError) throw new HttpError('ingest.bad-signature', 'the signature does not verify');
    throw error;
  }
  return device;
}

/** Consent decides, not the device: the newest receipt must be given/re-affirmed, unexpired and for this version. @throws HttpError `ingest.no-consent`. */
export function assertActiveConsent(store: ApiStore, device: DeviceRow, studyVersion: number, nowMs: number): void {
  if (store.hasErasureRequest(device.keyId)) throw new HttpError('ingest.no-consent', 'this participant has withdrawn');
  const consent = store.latestConsent({ deviceKeyId: device.keyId, studyId: device.studyId });
  const active =
    consent !== undefined &&
    (consent.state === 'given' || consent.state === 're-affirmed') &&
    consent.studyVersion === studyVersion &&
    consent.validUntilMs !== null &&
    consent.validUntilMs > nowMs;
  if (!active) throw new HttpError('ingest.no-consent', 'no active consent for this study version');
}

/**
 * Verifies and stores one envelope, once. Every refusal is a 4xx that leaves nothing behind.
 * @throws HttpError for an unknown device, a bad signature, no consent, a study that is not
 * open or another version, the wrong recipient key, or a batch id already held for another sender.
 */
export function acceptEnvelope(store: ApiStore, envelope: SealedEnvelope, now: Date): { status: 200 | 201; body: IngestAccepted } {
  const { header } = envelope;
  const device = verifiedDevice(store, header.senderKeyId, (found) => {
    verifyEnvelope(envelope, found.publicKey);
  });
  // A device is paired for one study: an envelope it addresses to another is a replay or a forgery.
  if (header.studyId !== device.studyId) throw new HttpError('ingest.batch-conflict', 'this device is not enrolled in that study');
  const study = store.findStudy(header.studyId);
  if (study?.status !== 'open' || study.currentVersion !== header.studyVersion) {
    throw new HttpError('ingest.study-not-open', 'the study is not open for this version');
  }
  assertActiveConsent(store, device, header.studyVersion, now.getTime());
  if (!store.aggregator.available()) throw new HttpError('aggregator.unavailable', 'ingest is not ready; retry later');
  const recipient = store.aggregator.currentStudyKey(header.studyId);
  if (recipient?.keyId !== header.recipientKeyId) throw new HttpError('ingest.wrong-recipient', "the envelope is not sealed to the study's current key");
  return store.transaction(() => {
    const owner = store.findEnvelopeOwner(header.batchId);
    if (owner) {
      if (owner.deviceKeyId !== device.keyId || owner.studyId !== header.studyId) {
        throw new HttpError('ingest.batch-conflict', 'this batch id is held for another sender or study');
      }
      return { status: 200 as const, body: { batchId: header.batchId, status: 'duplicate' as const } };
    }
    store.insertEnvelope({
      batchId: header.batchId,
      studyId: header.studyId,
      studyVersion: header.studyVersion,
      deviceKeyId: device.keyId,
      receivedAt: now.toISOString(),
      envelope: JSON.stringify(envelope),
    });
    return { status: 201 as const, body: { batchId: header.batchId, status: 'stored' as const } };
  });
}
