/**
 * Signing and checking consent receipts. Both signatures cover RFC 8785 canonical JSON:
 * the participant signs the receipt without its signatures; the server countersigns the
 * receipt including the participant's signature.
 */
import { canonicalJson, utf8 } from './encoding.ts';
import { canonicalHash, fromBase64Url, sign, toBase64Url, verifySignature, type SigningKeyPair } from './crypto.ts';
import type { ConsentReceipt } from './schemas/consent.ts';

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
