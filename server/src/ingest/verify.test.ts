/**
 * The server's native envelope verifier must decide exactly as shared's libsodium
 * `verifyEnvelope`: same acceptances, same refusals, same error codes, on valid envelopes and on
 * every kind of damage, including the corners where OpenSSL and libsodium differ.
 */
import { createHash, verify as nativeVerify, createPublicKey } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fromBase64Url,
  generateSealingKeyPair,
  generateSigningKeyPair,
  sealEnvelope,
  toBase64Url,
  verifyEnvelope,
  type SigningKeyPair,
} from '@candor/shared/crypto';
import { canonicalJson, concatBytes, u32, utf8 } from '@candor/shared/encoding';
import type { SealedEnvelope } from '@candor/shared/schemas/envelope';
import { createEnvelopeVerifier, type EnvelopeVerifier } from './verify.ts';

const recipient = generateSealingKeyPair();
const devices = [generateSigningKeyPair(), generateSigningKeyPair(), generateSigningKeyPair()];
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function seal(sender: SigningKeyPair, payload: Uint8Array, batchByte: number): SealedEnvelope {
  const batchId = batchByte.toString(16).padStart(2, '0').repeat(32);
  return sealEnvelope(payload, { studyId: 'study-a', studyVersion: 1, batchId, createdAt: '2026-11-23T09:00:00.000Z' }, sender, recipient.publicKey);
}

/** A verifier that has seen a valid envelope from every device, so every check below takes the native path. */
function warmVerifier(): EnvelopeVerifier {
  const verifier = createEnvelopeVerifier();
  for (const device of devices) verifier.verify(seal(device, utf8('warm'), 1), device.publicKey);
  return verifier;
}

function outcome(check: () => void): string {
  try {
    check();
    return 'accepted';
  } catch (error) {
    return (error as { code?: string }).code ?? `unexpected ${(error as Error).name}`;
  }
}

function flipBit(text: string, bit: number): string {
  const bytes = fromBase64Url(text);
  const index = bit % (bytes.length * 8);
  bytes[index >> 3] = (bytes[index >> 3] ?? 0) ^ (1 << (index & 7));
  return toBase64Url(bytes);
}

function littleEndian(bytes: Uint8Array): bigint {
  return [...bytes].reverse().reduce((value, byte) => (value << 8n) | BigInt(byte), 0n);
}
function toLittleEndian(value: bigint): Uint8Array {
  return Uint8Array.from({ length: 32 }, (_, index) => Number((value >> BigInt(8 * index)) & 0xffn));
}
const signingBytes = (envelope: SealedEnvelope): Uint8Array => {
  const header = utf8(canonicalJson(envelope.header));
  return concatBytes(utf8('candor/envelope/v1'), u32(header.length), header, fromBase64Url(envelope.ciphertext));
};

/**
 * A signature only the key's holder can make, valid by RFC 8032's cofactorless equation, whose R
 * is the identity (a small-order point): S = H(R ‖ A ‖ M)·a, so [S]B − [k]A is the identity.
 * OpenSSL accepts it; libsodium refuses small-order R.
 */
function identityRSignature(device: SigningKeyPair, message: Uint8Array): string {
  const scalar = createHash('sha512').update(device.secretKey.subarray(0, 32)).digest().subarray(0, 32);
  scalar[0] = (scalar[0] ?? 0) & 248;
  scalar[31] = ((scalar[31] ?? 0) & 127) | 64;
  const identity = toLittleEndian(1n);
  const k = littleEndian(createHash('sha512').update(identity).update(device.publicKey).update(message).digest()) % L;
  const s = (k * littleEndian(scalar)) % L;
  return toBase64Url(concatBytes(identity, toLittleEndian(s)));
}

type Damage =
  | { kind: 'none' }
  | { kind: 'signature-bit' | 'ciphertext-bit'; bit: number }
  | { kind: 'header'; field: 'batchId' | 'studyVersion' | 'studyId' | 'createdAt' | 'v' }
  | { kind: 'wrong-key'; other: number }
  | { kind: 'signature-text'; how: 'dangling' | 'stray-bits' | 'std-alphabet' | 'truncated' | 'padded' }
  | { kind: 'ciphertext-text'; how: 'stray-bits' | 'std-alphabet' }
  | { kind: 's-not-reduced' }
  | { kind: 'small-order-r'; point: number };

const SMALL_ORDER_R = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000080',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

function damage(envelope: SealedEnvelope, sender: number, what: Damage): { envelope: SealedEnvelope; key: Uint8Array } {
  const key = devices[sender]?.publicKey ?? new Uint8Array(32);
  switch (what.kind) {
    case 'none':
      return { envelope, key };
    case 'signature-bit':
      return { envelope: { ...envelope, signature: flipBit(envelope.signature, what.bit) }, key };
    case 'ciphertext-bit':
      return { envelope: { ...envelope, ciphertext: flipBit(envelope.ciphertext, what.bit) }, key };
    case 'header': {
      const edits = { batchId: 'e'.repeat(64), studyVersion: 2, studyId: 'study-b', createdAt: '2026-11-23T09:00:00.001Z', v: 2 };
      return { envelope: { ...envelope, header: { ...envelope.header, [what.field]: edits[what.field] } }, key };
    }
    case 'wrong-key':
      return { envelope, key: devices[(sender + 1 + what.other) % devices.length]?.publicKey ?? key };
    case 'signature-text': {
      const text = envelope.signature;
      const last = text.at(-1) ?? 'A';
      const edited = {
        dangling: `${text}A`,
        // The last character of 64 bytes in unpadded base64 carries 4 payload bits; its low 2 must be zero.
        'stray-bits': text.slice(0, -1) + 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.charAt(('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(last) | 1)),
        'std-alphabet': `+${text.slice(1)}`,
        truncated: text.slice(0, -4),
        padded: `${text}==`,
      }[what.how];
      return { envelope: { ...envelope, signature: edited }, key };
    }
    case 'ciphertext-text': {
      const text = envelope.ciphertext;
      const edited = what.how === 'std-alphabet' ? `/${text.slice(1)}` : `${text}AB`;
      return { envelope: { ...envelope, ciphertext: edited }, key };
    }
    case 's-not-reduced': {
      const bytes = fromBase64Url(envelope.signature);
      const s = littleEndian(bytes.subarray(32)) + L;
      if (s >= 2n ** 256n) return { envelope, key };
      return { envelope: { ...envelope, signature: toBase64Url(concatBytes(bytes.subarray(0, 32), toLittleEndian(s))) }, key };
    }
    case 'small-order-r': {
      const bytes = fromBase64Url(envelope.signature);
      const point = Buffer.from(SMALL_ORDER_R[what.point % SMALL_ORDER_R.length] ?? '', 'hex');
      return { envelope: { ...envelope, signature: toBase64Url(concatBytes(point, bytes.subarray(32))) }, key };
    }
  }
}

const damageArbitrary: fc.Arbitrary<Damage> = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  fc.record({ kind: fc.constantFrom('signature-bit' as const, 'ciphertext-bit' as const), bit: fc.nat() }),
  fc.record({ kind: fc.constant('header' as const), field: fc.constantFrom('batchId' as const, 'studyVersion' as const, 'studyId' as const, 'createdAt' as const, 'v' as const) }),
  fc.record({ kind: fc.constant('wrong-key' as const), other: fc.nat({ max: 1 }) }),
  fc.record({ kind: fc.constant('signature-text' as const), how: fc.constantFrom('dangling' as const, 'stray-bits' as const, 'std-alphabet' as const, 'truncated' as const, 'padded' as const) }),
  fc.record({ kind: fc.constant('ciphertext-text' as const), how: fc.constantFrom('stray-bits' as const, 'std-alphabet' as const) }),
  fc.constant({ kind: 's-not-reduced' as const }),
  fc.record({ kind: fc.constant('small-order-r' as const), point: fc.nat() }),
);

describe('the native envelope verifier', () => {
  it('accepts and refuses exactly what verifyEnvelope does, with the same error code', () => {
    const verifier = warmVerifier();
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 600 }), fc.nat({ max: devices.length - 1 }), fc.nat({ max: 255 }), damageArbitrary, (payload, sender, batchByte, what) => {
        const device = devices[sender];
        if (!device) throw new Error('no device');
        const { envelope, key } = damage(seal(device, payload, batchByte), sender, what);
        const expected = outcome(() => {
          verifyEnvelope(envelope, key);
        });
        expect(outcome(() => {
          verifier.verify(envelope, key);
        })).toBe(expected);
        if (what.kind === 'none') expect(expected).toBe('accepted');
      }),
      { numRuns: 400 },
    );
  });

  it('refuses a key holder’s signature with a small-order R that OpenSSL alone would accept, as libsodium does', () => {
    const verifier = warmVerifier();
    const device = devices[0];
    if (!device) throw new Error('no device');
    const sealed = seal(device, utf8('identity R'), 7);
    const forged = { ...sealed, signature: identityRSignature(device, signingBytes(sealed)) };
    const openssl = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: toBase64Url(device.publicKey) }, format: 'jwk' });
    // The hard negative is real: without the small-order check the native path would accept it.
    expect(nativeVerify(null, signingBytes(forged), openssl, fromBase64Url(forged.signature))).toBe(true);
    expect(outcome(() => {
      verifyEnvelope(forged, device.publicKey);
    })).toBe('crypto.bad-signature');
    expect(outcome(() => {
      verifier.verify(forged, device.publicKey);
    })).toBe('crypto.bad-signature');
  });

  it('leaves a key it has not yet seen to libsodium, so a small-order device key is refused', () => {
    const verifier = createEnvelopeVerifier();
    const device = devices[1];
    if (!device) throw new Error('no device');
    const envelope = seal(device, utf8('hello'), 9);
    for (const hex of SMALL_ORDER_R) {
      const key = Buffer.from(hex, 'hex');
      expect(outcome(() => {
        verifier.verify(envelope, key);
      })).toBe(outcome(() => {
        verifyEnvelope(envelope, key);
      }));
      expect(outcome(() => {
        verifier.verify(envelope, key);
      })).toBe('crypto.bad-signature');
    }
  });

  it('stops using a cached key when the same key id arrives with different key bytes', () => {
    const verifier = warmVerifier();
    const [first, second] = devices;
    if (!first || !second) throw new Error('no device');
    const envelope = seal(first, utf8('rekeyed'), 11);
    expect(outcome(() => {
      verifier.verify(envelope, second.publicKey);
    })).toBe('crypto.bad-signature');
    expect(outcome(() => {
      verifier.verify(envelope, first.publicKey);
    })).toBe('accepted');
  });
});
