/**
 * Signing the erasure request and checking the server's acknowledgement, as
 * shared/src/schemas/ingest.ts specifies: Ed25519 over a domain string and RFC 8785 JSON.
 */
import { fromBase64Url, keyIdOf, sign, toBase64Url, verifySignature, type SigningKeyPair } from '@candor/shared/crypto';
import { CandorError } from '@candor/shared/errors';
import { canonicalJson, concatBytes, utf8 } from '@candor/shared/encoding';
import type { SignedErasureAck, SignedErasureRequest } from '@candor/shared/schemas/ingest';

type ErasureRequest = SignedErasureRequest['request'];
type ErasureAck = SignedErasureAck['ack'];

export function erasureRequestSigningBytes(request: ErasureRequest): Uint8Array {
  return concatBytes(utf8('candor/erasure/v1\n'), utf8(canonicalJson(request)));
}

export function erasureAckSigningBytes(ack: ErasureAck): Uint8Array {
  return concatBytes(utf8('candor/erasure-ack/v1\n'), utf8(canonicalJson(ack)));
}

export function signErasureRequest(request: ErasureRequest, deviceKey: SigningKeyPair): SignedErasureRequest {
  return { request, signature: toBase64Url(sign(erasureRequestSigningBytes(request), deviceKey.secretKey)) };
}

/**
 * Accepts an acknowledgement only if the server's key signed it and it answers exactly this
 * request (same request id, study and device key).
 * @throws CandorError `erasure.bad-ack` otherwise.
 */
export function verifyErasureAck(ack: SignedErasureAck, request: ErasureRequest, serverPublicKey: Uint8Array): void {
  const answers =
    ack.ack.requestId === request.requestId &&
    ack.ack.studyId === request.studyId &&
    ack.ack.deviceKeyId === request.deviceKeyId &&
    ack.ack.serverKeyId === keyIdOf(serverPublicKey);
  if (!answers) throw new CandorError('erasure.bad-ack', 'the erasure acknowledgement answers a different request');
  if (!verifySignature(fromBase64Url(ack.signature), erasureAckSigningBytes(ack.ack), serverPublicKey)) {
    throw new CandorError('erasure.bad-ack', 'the erasure acknowledgement is not signed by the server');
  }
}
