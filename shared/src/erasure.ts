/**
 * Withdrawal's signed messages, one implementation for the agent and the server: the device
 * signs the erasure request, the server signs the acknowledgement, each with Ed25519 over a
 * domain string and RFC 8785 JSON (schemas/ingest.ts). Runtime-neutral: no Node APIs.
 */
import { fromBase64Url, keyIdOf, sign, toBase64Url, verifySignature, type SigningKeyPair } from './crypto.ts';
import { canonicalJson, concatBytes, utf8 } from './encoding.ts';
import { CandorError } from './errors.ts';
import type { SignedErasureAck, SignedErasureRequest } from './schemas/ingest.ts';

export type ErasureRequest = SignedErasureRequest['request'];
export type ErasureAck = SignedErasureAck['ack'];

const REQUEST_DOMAIN = 'candor/erasure/v1\n';
const ACK_DOMAIN = 'candor/erasure-ack/v1\n';

export function erasureRequestSigningBytes(request: ErasureRequest): Uint8Array {
  return concatBytes(utf8(REQUEST_DOMAIN), utf8(canonicalJson(request)));
}

export function erasureAckSigningBytes(ack: ErasureAck): Uint8Array {
  return concatBytes(utf8(ACK_DOMAIN), utf8(canonicalJson(ack)));
}

/** The device's half: sign a request with the study-scoped device key. */
export function signErasureRequest(request: ErasureRequest, deviceKey: SigningKeyPair): SignedErasureRequest {
  return { request, signature: toBase64Url(sign(erasureRequestSigningBytes(request), deviceKey.secretKey)) };
}

/** The server's half: is this request signed by the device key it names? */
export function erasureRequestVerifies(signed: SignedErasureRequest, devicePublicKey: Uint8Array): boolean {
  return keyIdOf(devicePublicKey) === signed.request.deviceKeyId && verifySignature(fromBase64Url(signed.signature), erasureRequestSigningBytes(signed.request), devicePublicKey);
}

/** The server's half: sign the acknowledgement once the participant's data is erased. */
export function signErasureAck(ack: ErasureAck, serverKey: SigningKeyPair): SignedErasureAck {
  return { ack, signature: toBase64Url(sign(erasureAckSigningBytes(ack), serverKey.secretKey)) };
}

/**
 * The device's half: accepts an acknowledgement only if the server's key signed it and it
 * answers exactly this request (same request id, study and device key).
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
