/**
 * Withdrawal, the API server's half: it checks the device's signed request, deletes every
 * sealed envelope of that device, records the request for the aggregator (which destroys the
 * participant's key and rows and recomputes cohorts), waits for it, and signs the answer.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SigningKeyPair } from '@candor/shared/crypto';
import { erasureRequestVerifies, signErasureAck } from '@candor/shared/erasure';
import type { SignedErasureAck, SignedErasureRequest } from '@candor/shared/schemas/ingest';
import type { ApiStore } from '../db/store.ts';
import { appendAudit } from '../audit/record.ts';
import { HttpError } from '../http/errors.ts';

/**
 * @throws HttpError `ingest.unknown-device`, `erasure.bad-signature`, or `erasure.pending`
 * (503, so the agent retries) when the aggregator has not confirmed within `waitMs`.
 */
export async function eraseParticipant(
  store: ApiStore,
  signed: SignedErasureRequest,
  options: { now: () => Date; waitMs: number; serverKey: () => SigningKeyPair },
): Promise<SignedErasureAck> {
  const { request } = signed;
  const device = store.findDevice(request.deviceKeyId);
  if (!device || device.studyId !== request.studyId) throw new HttpError('ingest.unknown-device', 'no device is paired with this key for that study');
  if (!erasureRequestVerifies(signed, device.publicKey)) {
    throw new HttpError('erasure.bad-signature', 'the erasure request signature does not verify');
  }
  const at = options.now();
  store.transaction(() => {
    store.insertErasureRequest({
      requestId: request.requestId,
      studyId: request.studyId,
      deviceKeyId: device.keyId,
      pseudonym: device.pseudonym,
      requestedAt: at.toISOString(),
    });
    store.deleteEnvelopesOfDevice(device.keyId);
    appendAudit(store, { actor: device.keyId, action: 'participant.withdraw', studyId: request.studyId, target: request.requestId, reason: 'signed withdrawal', outcome: 'done' }, at);
  });
  store.compact();
  const deadline = Date.now() + options.waitMs;
  for (;;) {
    const erasedAt = store.aggregator.available() ? store.aggregator.isErased(request.requestId) : undefined;
    if (erasedAt !== undefined) {
      const key = options.serverKey();
      return signErasureAck({ requestId: request.requestId, studyId: request.studyId, deviceKeyId: device.keyId, erasedAt, serverKeyId: key.keyId }, key);
    }
    if (Date.now() >= deadline) throw new HttpError('erasure.pending', 'erasure is under way; retry to receive the acknowledgement');
    await sleep(50);
  }
}
