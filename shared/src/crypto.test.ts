import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CryptoError,
  constantTimeEqual,
  decryptRecord,
  deriveSubkey,
  encryptRecord,
  fromBase64Url,
  generateDataKey,
  generateSealingKeyPair,
  generateSigningKeyPair,
  openEnvelope,
  randomId,
  recordKeyId,
  sealEnvelope,
  sign,
  signingKeyPairFromSecret,
  toBase64Url,
  unwrapDataKey,
  verifyEnvelope,
  verifySignature,
  wrapDataKey,
  type EnvelopeAddress,
} from './crypto.ts';
import { utf8 } from './encoding.ts';
import type { SealedEnvelope } from './schemas/envelope.ts';

const device = generateSigningKeyPair();
const study = generateSealingKeyPair();
const address: EnvelopeAddress = { studyId: 'typing-study', studyVersion: 3, batchId: 'ab'.repeat(32), createdAt: '2026-11-23T10:00:00.000Z' };

/** Runs `action` and returns the CryptoError code it throws; fails on anything else. */
function cryptoErrorOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(CryptoError);
    return (error as CryptoError).code;
  }
  throw new Error('expected a CryptoError, nothing was thrown');
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = bytes.slice();
  const index = Math.floor(bit / 8) % copy.length;
  copy[index] = (copy[index] ?? 0) ^ (1 << bit % 8);
  return copy;
}

const payloads = fc.uint8Array({ minLength: 0, maxLength: 2048 });

describe('signatures', () => {
  it('verify for the signer and fail for any other key or message', () => {
    fc.assert(
      fc.property(payloads, fc.nat(), (message, bit) => {
        const signature = sign(message, device.secretKey);
        expect(verifySignature(signature, message, device.publicKey)).toBe(true);
        expect(verifySignature(signature, message, generateSigningKeyPair().publicKey)).toBe(false);
        expect(verifySignature(flipBit(signature, bit), message, device.publicKey)).toBe(false);
        if (message.length > 0) expect(verifySignature(signature, flipBit(message, bit), device.publicKey)).toBe(false);
      }),
      { numRuns: 50 },
    );
  });

  it('return false, not throw, for signatures and keys of the wrong length', () => {
    expect(verifySignature(new Uint8Array(10), utf8('x'), device.publicKey)).toBe(false);
    expect(verifySignature(sign(utf8('x'), device.secretKey), utf8('x'), new Uint8Array(5))).toBe(false);
  });

  it('rebuild the same key pair from its secret key', () => {
    const rebuilt = signingKeyPairFromSecret(device.secretKey);
    expect(rebuilt.keyId).toBe(device.keyId);
    expect(constantTimeEqual(rebuilt.publicKey, device.publicKey)).toBe(true);
  });
});

describe('envelopes', () => {
  it('round-trip any payload for the intended recipient', () => {
    fc.assert(
      fc.property(payloads, (payload) => {
        const envelope = sealEnvelope(payload, address, device, study.publicKey);
        expect(openEnvelope(envelope, device.publicKey, study)).toEqual(payload);
      }),
      { numRuns: 50 },
    );
  });

  it('never show the payload in the clear', () => {
    const envelope = sealEnvelope(utf8('canary-7f3e9 typed text'), address, device, study.publicKey);
    expect(JSON.stringify(envelope)).not.toContain('canary-7f3e9');
  });

  it('reject any flipped bit in the ciphertext or signature with a typed error', () => {
    const envelope = sealEnvelope(utf8('window aggregates'), address, device, study.publicKey);
    fc.assert(
      fc.property(fc.nat(), fc.constantFrom<'ciphertext' | 'signature'>('ciphertext', 'signature'), (bit, field) => {
        const tampered: SealedEnvelope = { ...envelope, [field]: toBase64Url(flipBit(fromBase64Url(envelope[field]), bit)) };
        expect(cryptoErrorOf(() => openEnvelope(tampered, device.publicKey, study))).toBe('crypto.bad-signature');
      }),
      { numRuns: 100 },
    );
  });

  it('reject truncated ciphertext', () => {
    const envelope = sealEnvelope(utf8('window aggregates'), address, device, study.publicKey);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }), (cut) => {
        const bytes = fromBase64Url(envelope.ciphertext);
        const truncated = { ...envelope, ciphertext: toBase64Url(bytes.subarray(0, Math.min(cut, bytes.length - 1))) };
        expect(cryptoErrorOf(() => openEnvelope(truncated, device.publicKey, study))).toBe('crypto.bad-signature');
      }),
    );
  });

  it('reject a header changed after signing, even when re-signed by another device', () => {
    const envelope = sealEnvelope(utf8('window aggregates'), address, device, study.publicKey);
    const moved = { ...envelope, header: { ...envelope.header, studyId: 'other-study' } };
    expect(cryptoErrorOf(() => {
      verifyEnvelope(moved, device.publicKey);
    })).toBe('crypto.bad-signature');

    // An insider re-signs someone else's ciphertext under their own device: the AEAD binds the
    // header, so the aggregator cannot be made to attribute the content to the wrong sender.
    const thief = generateSigningKeyPair();
    const stolen = sealEnvelope(utf8('decoy'), address, thief, study.publicKey);
    const replayed = { ...stolen, ciphertext: envelope.ciphertext };
    const resigned = { ...replayed, signature: toBase64Url(sign(signingBytesOf(replayed), thief.secretKey)) };
    expect(cryptoErrorOf(() => openEnvelope(resigned, thief.publicKey, study))).toBe('crypto.decrypt-failed');
  });

  it('refuse the wrong recipient and the wrong sender key', () => {
    const envelope = sealEnvelope(utf8('x'), address, device, study.publicKey);
    expect(cryptoErrorOf(() => openEnvelope(envelope, device.publicKey, generateSealingKeyPair()))).toBe('crypto.wrong-recipient');
    expect(cryptoErrorOf(() => openEnvelope(envelope, generateSigningKeyPair().publicKey, study))).toBe('crypto.bad-signature');
  });

  it('refuse an envelope whose nonce was reused from another envelope', () => {
    const first = sealEnvelope(utf8('first'), address, device, study.publicKey);
    const second = sealEnvelope(utf8('second'), address, device, study.publicKey);
    expect(first.header.nonce).not.toBe(second.header.nonce);
    const reused = { ...second, header: { ...second.header, nonce: first.header.nonce } };
    const resigned = { ...reused, signature: toBase64Url(sign(signingBytesOf(reused), device.secretKey)) };
    expect(cryptoErrorOf(() => openEnvelope(resigned, device.publicKey, study))).toBe('crypto.decrypt-failed');
  });

  it('refuse a low-order ephemeral key', () => {
    const envelope = sealEnvelope(utf8('x'), address, device, study.publicKey);
    const zeroKey = { ...envelope, header: { ...envelope.header, ephemeralPublicKey: toBase64Url(new Uint8Array(32)) } };
    const resigned = { ...zeroKey, signature: toBase64Url(sign(signingBytesOf(zeroKey), device.secretKey)) };
    expect(cryptoErrorOf(() => openEnvelope(resigned, device.publicKey, study))).toBe('crypto.decrypt-failed');
  });

  it('refuse an unsupported version', () => {
    const envelope = sealEnvelope(utf8('x'), address, device, study.publicKey);
    const future = { ...envelope, header: { ...envelope.header, v: 2 } } as unknown as SealedEnvelope;
    expect(cryptoErrorOf(() => {
      verifyEnvelope(future, device.publicKey);
    })).toBe('crypto.unsupported-version');
  });
});

/** Recomputes the signed bytes the way a forger with the docs would (docs/crypto.md). */
function signingBytesOf(envelope: SealedEnvelope): Uint8Array {
  // Sealing a dummy with the same header is not possible, so rebuild the documented layout.
  const header = utf8(canonical(envelope.header));
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, header.length);
  const ciphertext = fromBase64Url(envelope.ciphertext);
  const domain = utf8('candor/envelope/v1');
  const out = new Uint8Array(domain.length + 4 + header.length + ciphertext.length);
  out.set(domain, 0);
  out.set(length, domain.length);
  out.set(header, domain.length + 4);
  out.set(ciphertext, domain.length + 4 + header.length);
  return out;
}

function canonical(header: SealedEnvelope['header']): string {
  const sorted = Object.fromEntries(Object.entries(header).sort(([a], [b]) => (a < b ? -1 : 1)));
  return JSON.stringify(sorted);
}

describe('records at rest', () => {
  const key = generateDataKey();
  const lookup = (keyId: string) => (keyId === key.keyId ? key.key : undefined);

  it('round-trip any plaintext bound to its record identity', () => {
    fc.assert(
      fc.property(payloads, fc.string(), (plaintext, recordId) => {
        const blob = encryptRecord(key, plaintext, utf8(recordId));
        expect(recordKeyId(blob)).toBe(key.keyId);
        expect(decryptRecord(blob, lookup, utf8(recordId))).toEqual(plaintext);
      }),
      { numRuns: 100 },
    );
  });

  it('fail to decrypt when swapped between records', () => {
    const first = encryptRecord(key, utf8('window one'), utf8('windows/1'));
    expect(cryptoErrorOf(() => decryptRecord(first, lookup, utf8('windows/2')))).toBe('crypto.decrypt-failed');
  });

  it('reject any flipped bit or truncation with a typed error', () => {
    const blob = encryptRecord(key, utf8('window one'), utf8('windows/1'));
    fc.assert(
      fc.property(fc.nat(), fc.nat({ max: blob.length - 1 }), (bit, cut) => {
        const codes = ['crypto.decrypt-failed', 'crypto.malformed', 'crypto.unknown-key', 'crypto.unsupported-version'];
        expect(codes).toContain(cryptoErrorOf(() => decryptRecord(flipBit(blob, bit), lookup, utf8('windows/1'))));
        expect(codes).toContain(cryptoErrorOf(() => decryptRecord(blob.subarray(0, cut), lookup, utf8('windows/1'))));
      }),
      { numRuns: 200 },
    );
  });

  it('never reuse a nonce, and reject a nonce taken from another record', () => {
    const a = encryptRecord(key, utf8('same'), utf8('r'));
    const b = encryptRecord(key, utf8('same'), utf8('r'));
    const nonceAt = 2 + (a[1] ?? 0);
    expect(a.subarray(nonceAt, nonceAt + 24)).not.toEqual(b.subarray(nonceAt, nonceAt + 24));
    const spliced = b.slice();
    spliced.set(a.subarray(nonceAt, nonceAt + 24), nonceAt);
    expect(cryptoErrorOf(() => decryptRecord(spliced, lookup, utf8('r')))).toBe('crypto.decrypt-failed');
  });

  it('report a destroyed key as unknown, not as corruption', () => {
    const blob = encryptRecord(key, utf8('x'), utf8('r'));
    expect(cryptoErrorOf(() => decryptRecord(blob, () => undefined, utf8('r')))).toBe('crypto.unknown-key');
  });

  it('fail under the wrong key', () => {
    const other = generateDataKey();
    const blob = encryptRecord(key, utf8('x'), utf8('r'));
    expect(cryptoErrorOf(() => decryptRecord(blob, () => other.key, utf8('r')))).toBe('crypto.decrypt-failed');
  });

  it('wrap data keys so that only the master key and the right key id unwrap them', () => {
    const master = generateDataKey();
    const wrapped = wrapDataKey(master, key);
    expect(unwrapDataKey(master, key.keyId, wrapped).key).toEqual(key.key);
    expect(cryptoErrorOf(() => unwrapDataKey(master, 'another-key-id', wrapped))).toBe('crypto.decrypt-failed');
    expect(cryptoErrorOf(() => unwrapDataKey(generateDataKey(), key.keyId, wrapped))).toBe('crypto.unknown-key');
  });
});

describe('key derivation', () => {
  it('gives the same sub-key for the same inputs and different ones otherwise', () => {
    const master = generateDataKey().key;
    expect(deriveSubkey(master, 'batchids', 1)).toEqual(deriveSubkey(master, 'batchids', 1));
    expect(deriveSubkey(master, 'batchids', 1)).not.toEqual(deriveSubkey(master, 'batchids', 2));
    expect(deriveSubkey(master, 'batchids', 1)).not.toEqual(deriveSubkey(master, 'otherctx', 1));
  });

  it('refuses a context that is not 8 ASCII characters', () => {
    expect(cryptoErrorOf(() => deriveSubkey(generateDataKey().key, 'short', 1))).toBe('crypto.malformed');
  });
});

describe('constantTimeEqual', () => {
  it.each([
    [[1, 2, 3], [1, 2, 3], true],
    [[1, 2, 3], [1, 2, 4], false],
    [[1, 2, 3], [1, 2], false],
    [[], [], true],
  ])('%j vs %j is %s', (a, b, expected) => {
    expect(constantTimeEqual(Uint8Array.from(a), Uint8Array.from(b))).toBe(expected);
  });
});

describe('base64url', () => {
  it('refuses text that is not base64url', () => {
    expect(cryptoErrorOf(() => fromBase64Url('not base64!'))).toBe('crypto.malformed');
  });
});

describe('randomId', () => {
  it('is 22 base64url characters that never begin with "-", so a command line never takes one for an option', () => {
    // Without the redraw, one in 64 would begin with "-": 3,000 draws all miss it with odds of about 1e-21.
    const ids = Array.from({ length: 3000 }, () => randomId());
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
