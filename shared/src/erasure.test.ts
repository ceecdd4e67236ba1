import { describe, expect, it } from 'vitest';
import { generateSigningKeyPair, keyIdOf, randomId } from './crypto.ts';
import {
  erasureRequestVerifies,
  signErasureAck,
  signErasureRequest,
  verifyErasureAck,
  type ErasureAck,
  type ErasureRequest,
} from './erasure.ts';
import { CandorError } from './errors.ts';
import { SignedErasureAck, SignedErasureRequest } from './schemas/ingest.ts';
import { parseUnknown } from './validation.ts';

const device = generateSigningKeyPair();
const otherDevice = generateSigningKeyPair();
const server = generateSigningKeyPair();
const otherServer = generateSigningKeyPair();

const request: ErasureRequest = { studyId: 'coding-practice', deviceKeyId: keyIdOf(device.publicKey), requestedAt: '2026-11-23T10:00:00.000Z', requestId: randomId() };
const ack: ErasureAck = {
  requestId: request.requestId,
  studyId: request.studyId,
  deviceKeyId: request.deviceKeyId,
  erasedAt: '2026-11-23T10:00:01.000Z',
  serverKeyId: keyIdOf(server.publicKey),
};

function flipFirstSignatureChar(signature: string): string {
  return `${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
}

describe('erasure requests', () => {
  it('produce signed requests that pass the shared schema and verify against the device key they name', () => {
    const signed = parseUnknown(SignedErasureRequest, signErasureRequest(request, device), 'request');
    expect(erasureRequestVerifies(signed, device.publicKey)).toBe(true);
  });

  it.each([
    ['another device key', () => ({ signed: signErasureRequest(request, device), key: otherDevice.publicKey })],
    ['a request signed by a device other than the one it names', () => ({ signed: signErasureRequest(request, otherDevice), key: device.publicKey })],
    ['a different study after signing', () => ({ signed: { ...signErasureRequest(request, device), request: { ...request, studyId: 'other-study' } }, key: device.publicKey })],
    ['a different request id after signing', () => ({ signed: { ...signErasureRequest(request, device), request: { ...request, requestId: randomId() } }, key: device.publicKey })],
    ['a damaged signature', () => {
      const signed = signErasureRequest(request, device);
      return { signed: { ...signed, signature: flipFirstSignatureChar(signed.signature) }, key: device.publicKey };
    }],
  ])('refuse %s', (_name, make) => {
    const { signed, key } = make();
    expect(erasureRequestVerifies(signed, key)).toBe(false);
  });
});

describe('erasure acknowledgements', () => {
  it('are accepted when the server signed exactly this request', () => {
    const signed = parseUnknown(SignedErasureAck, signErasureAck(ack, server), 'ack');
    expect(() => {
      verifyErasureAck(signed, request, server.publicKey);
    }).not.toThrow();
  });

  it.each([
    ['signed by another key under the right key id', () => signErasureAck(ack, otherServer)],
    ['answering another request id', () => signErasureAck({ ...ack, requestId: randomId() }, server)],
    ['answering another study', () => signErasureAck({ ...ack, studyId: 'other-study' }, server)],
    ['answering another device', () => signErasureAck({ ...ack, deviceKeyId: keyIdOf(otherDevice.publicKey) }, server)],
    ['naming another server key', () => signErasureAck({ ...ack, serverKeyId: keyIdOf(otherServer.publicKey) }, server)],
    ['edited after signing', () => ({ ...signErasureAck(ack, server), ack: { ...ack, erasedAt: '2026-11-24T00:00:00.000Z' } })],
  ])('are refused when %s', (_name, make) => {
    expect(() => {
      verifyErasureAck(make(), request, server.publicKey);
    }).toThrow(CandorError);
  });
});
