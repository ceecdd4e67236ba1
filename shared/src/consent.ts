/**
 * Signing and checking consent receipts. Both signatures cover RFC 8785 canonical JSON:
 * the participant signs the receipt without its signatures; the server countersigns the
 * receipt including the participant's signature.
 */
import { canonicalJson, utf8 } from './encoding.ts';
import { canonicalHash, fromBase64Url, keyIdOf, sign, toBase64Url, verifySignature, type SigningKeyPair } from './crypto.ts';
import { z } from 'zod';
import type { ConsentReceipt } from './schemas/consent.ts';
import { Base64Url, KeyId, RandomId, Slug, UtcTimestamp } from './schemas/primitives.ts';
import { StudyVersion } from './schemas/study.ts';

export type UnsignedReceipt = Omit<ConsentReceipt, 'integrity'> & {
  integrity: { previousReceiptHash: string | null };
};

const PARTICIPANT_DOMAIN = 'candor/consent-receipt/participant/v1\n';
const SERVER_DOMAIN = 'candor/consent-receipt/server/v1\n';

function participantSigningBytes(receipt: UnsignedReceipt | ConsentReceipt): Uint8Array {
  const { integrity, ...body } = receipt;
  return utf8(PARTICIPANT_DOMAIN + canonicalJson({ ...body, integrity: { previousReceiptHash: integrity.previousReceiptHash } }));
}

function serverSigningBytes(receipt: ConsentReceipt): Uint8Array {
  return utf8(SERVER_DOMAIN + canonicalJson({ ...receipt, integrity: { ...receipt.integrity, server: null } }));
}

export function signReceiptAsParticipant(receipt: UnsignedReceipt, device: SigningKeyPair): ConsentReceipt {
  const signature = toBase64Url(sign(participantSigningBytes(receipt), device.secretKey));
  return { ...receipt, integrity: { ...receipt.integrity, participant: { keyId: device.keyId, signature }, server: null } };
}

export function countersignReceipt(receipt: ConsentReceipt, server: SigningKeyPair): ConsentReceipt {
  const signature = toBase64Url(sign(serverSigningBytes(receipt), server.secretKey));
  return { ...receipt, integrity: { ...receipt.integrity, server: { keyId: server.keyId, signature } } };
}

export function verifyParticipantSignature(receipt: ConsentReceipt, devicePublicKey: Uint8Array): boolean {
  return verifySignature(fromBase64Url(receipt.integrity.participant.signature), participantSigningBytes(receipt), devicePublicKey);
}

export function verifyServerCountersignature(receipt: ConsentReceipt, serverPublicKey: Uint8Array): boolean {
  const server = receipt.integrity.server;
  return server !== null && verifySignature(fromBase64Url(server.signature), serverSigningBytes(receipt), serverPublicKey);
}

/** The hash the next receipt in a participant's chain carries as `previousReceiptHash`. */
export function receiptHash(receipt: ConsentReceipt): string {
  return canonicalHash(receipt);
}

/**
 * A paired device asking which version of its study the server offers now
 * (`POST /api/v1/devices/study`), so that a new version stops capture until the participant
 * consents again. The device signs the request with its study-scoped key; the server signs
 * the answer, which repeats the request's nonce, with the key the agent pinned at pairing.
 */
export const SignedStudyCheck = z.strictObject({
  request: z.strictObject({ deviceKeyId: KeyId, studyId: Slug, requestedAt: UtcTimestamp, nonce: RandomId }),
  signature: Base64Url.length(86),
});
export type SignedStudyCheck = z.infer<typeof SignedStudyCheck>;
export type StudyCheckRequest = SignedStudyCheck['request'];

/** The server's answer; every key id must be its key's, or a server could name one key and hand over another. */
export const SignedStudyAnswer = z.strictObject({
  answer: z.strictObject({
    nonce: RandomId,
    deviceKeyId: KeyId,
    studyId: Slug,
    study: StudyVersion,
    aggregatorKey: z
      .strictObject({ keyId: KeyId, publicKey: Base64Url.length(43) })
      .refine((key) => keyIdOf(fromBase64Url(key.publicKey)) === key.keyId, 'the key id is not the id of this key'),
    serverKeyId: KeyId,
    answeredAt: UtcTimestamp,
  }),
  signature: Base64Url.length(86),
});
export type SignedStudyAnswer = z.infer<typeof SignedStudyAnswer>;
export type StudyAnswer = SignedStudyAnswer['answer'];

const STUDY_CHECK_DOMAIN = 'candor/study-check/device/v1\n';
const STUDY_ANSWER_DOMAIN = 'candor/study-check/server/v1\n';

export function signStudyCheck(request: StudyCheckRequest, device: SigningKeyPair): SignedStudyCheck {
  return { request, signature: toBase64Url(sign(utf8(STUDY_CHECK_DOMAIN + canonicalJson(request)), device.secretKey)) };
}

/** Is this request signed by the device key it names? */
export function studyCheckVerifies(signed: SignedStudyCheck, devicePublicKey: Uint8Array): boolean {
  return (
    keyIdOf(devicePublicKey) === signed.request.deviceKeyId &&
    verifySignature(fromBase64Url(signed.signature), utf8(STUDY_CHECK_DOMAIN + canonicalJson(signed.request)), devicePublicKey)
  );
}

export function signStudyAnswer(answer: StudyAnswer, server: SigningKeyPair): SignedStudyAnswer {
  return { answer, signature: toBase64Url(sign(utf8(STUDY_ANSWER_DOMAIN + canonicalJson(answer)), server.secretKey)) };
}

export function studyAnswerVerifies(signed: SignedStudyAnswer, serverPublicKey: Uint8Array): boolean {
  return verifySignature(fromBase64Url(signed.signature), utf8(STUDY_ANSWER_DOMAIN + canonicalJson(signed.answer)), serverPublicKey);
}
