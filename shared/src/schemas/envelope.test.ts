import { describe, expect, it } from 'vitest';
import { generateSealingKeyPair, generateSigningKeyPair, sealEnvelope } from '../crypto.ts';
import { utf8 } from '../encoding.ts';
import { parseUnknown } from '../validation.ts';
import { SealedEnvelope } from './envelope.ts';

const envelope = sealEnvelope(
  utf8('{}'),
  { studyId: 'coding-practice', studyVersion: 1, batchId: 'd'.repeat(64), createdAt: '2026-11-23T10:00:00.000Z' },
  generateSigningKeyPair(),
  generateSealingKeyPair().publicKey,
);

describe('SealedEnvelope', () => {
  it('accepts what sealEnvelope produces', () => {
    expect(parseUnknown(SealedEnvelope, JSON.parse(JSON.stringify(envelope)))).toEqual(envelope);
  });

  it.each([
    ['an unknown header field', { ...envelope, header: { ...envelope.header, plaintext: 'x' } }, /header/],
    ['an unknown top-level field', { ...envelope, windows: [] }, /windows|root/],
    ['a future version', { ...envelope, header: { ...envelope.header, v: 2 } }, /header\.v/],
    ['a batch id that is not a 256-bit hex', { ...envelope, header: { ...envelope.header, batchId: 'retry-1' } }, /header\.batchId/],
    ['a signature of the wrong length', { ...envelope, signature: 'abc' }, /signature/],
    ['padded base64', { ...envelope, ciphertext: `${envelope.ciphertext}==` }, /ciphertext/],
  ])('rejects %s', (_, input, path) => {
    expect(() => parseUnknown(SealedEnvelope, input)).toThrow(path);
  });
});
