/**
 * The API server's second envelope verifier: Node's native Ed25519 (OpenSSL) in place of
 * libsodium's WebAssembly build, because signature checks are most of what an ingest request
 * costs. It accepts and rejects exactly what `verifyEnvelope` in @candor/shared/crypto does
 * (server/src/ingest/verify.test.ts checks that as a property). Where the two libraries differ
 * it follows libsodium:
 * - libsodium refuses public keys that are small-order or not canonically encoded, OpenSSL does
 *   not. A device key is used natively only after libsodium itself has accepted an envelope
 *   signed with it, which it cannot do for such a key; until then `verifyEnvelope` decides.
 * - libsodium refuses a signature whose R is a small-order point; OpenSSL does not, so R is
 *   checked against the same list libsodium uses.
 * - libsodium's base64url decoder refuses non-canonical text (stray bits, a dangling character)
 *   that Node's decoder tolerates, so decoded bytes must re-encode to the exact text.
 * Both check S < L and compare the recomputed R byte for byte, so no other input separates them.
 * The agent and the aggregator keep `verifyEnvelope`: only the API server's hot path needs this.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { CryptoError, verifyEnvelope } from '@candor/shared/crypto';
import { canonicalJson, concatBytes, u32, utf8 } from '@candor/shared/encoding';
import { ENVELOPE_VERSION, type SealedEnvelope } from '@candor/shared/schemas/envelope';

/** The signing domain of docs/crypto.md; the same bytes `sealEnvelope` signs. */
const ENVELOPE_DOMAIN = utf8('candor/envelope/v1');
const SIGNATURE_BYTES = 64;
/** Past this many cached device keys the cache starts over rather than grow without bound. */
const MAX_CACHED_KEYS = 100_000;

/** libsodium's `ge25519_has_small_order` list (the sign bit of x is ignored): points of order 1, 2, 4 and 8 and non-canonical spellings of them. */
const SMALL_ORDER_POINTS = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((hex) => Buffer.from(hex, 'hex'));

function hasSmallOrder(point: Uint8Array): boolean {
  const y = Buffer.from(point.subarray(0, 32));
  y[31] = (y[31] ?? 0) & 0x7f;
  return SMALL_ORDER_POINTS.some((bad) => bad.equals(y));
}

/** @throws CryptoError `crypto.malformed` as libsodium's URL-safe, unpadded decoder would. */
function fromCanonicalBase64Url(text: string): Buffer {
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) throw new CryptoError('crypto.malformed', 'not base64url');
  return bytes;
}

type CachedKey = { keyId: string; publicKey: Buffer; key: KeyObject };

export type EnvelopeVerifier = {
  /** @throws CryptoError `crypto.unsupported-version`, `crypto.malformed`, `crypto.bad-signature`, exactly when `verifyEnvelope` does. */
  verify: (envelope: SealedEnvelope, senderPublicKey: Uint8Array) => void;
};

/** A verifier with its own cache of native keys, one per device key libsodium has vouched for. */
export function createEnvelopeVerifier(): EnvelopeVerifier {
  const keys = new Map<string, CachedKey>();
  return {
    verify: (envelope, senderPublicKey) => {
      const { header } = envelope;
      const cached = keys.get(header.senderKeyId);
      if (!cached?.publicKey.equals(senderPublicKey)) {
        // First sight of this key (or a key re-paired under the same id): libsodium decides, and
        // a key it accepts a signature from is canonical and not small-order.
        verifyEnvelope(envelope, senderPublicKey);
        if (keys.size >= MAX_CACHED_KEYS) keys.clear();
        const publicKey = Buffer.from(senderPublicKey);
        const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey.toString('base64url') }, format: 'jwk' });
        keys.set(header.senderKeyId, { keyId: header.senderKeyId, publicKey, key });
        return;
      }
      if ((header.v as number) !== ENVELOPE_VERSION) {
        throw new CryptoError('crypto.unsupported-version', `envelope version ${String(header.v)} is not supported`);
      }
      // The cache is keyed by the id libsodium's check tied to these key bytes, so the sender id matches.
      const ciphertext = fromCanonicalBase64Url(envelope.ciphertext);
      const signature = fromCanonicalBase64Url(envelope.signature);
      if (signature.length !== SIGNATURE_BYTES || hasSmallOrder(signature.subarray(0, 32))) {
        throw new CryptoError('crypto.bad-signature', 'envelope signature does not verify');
      }
      const headerBytes = utf8(canonicalJson(header));
      const signed = concatBytes(ENVELOPE_DOMAIN, u32(headerBytes.length), headerBytes, ciphertext);
      if (!verify(null, signed, cached.key, signature)) throw new CryptoError('crypto.bad-signature', 'envelope signature does not verify');
    },
  };
}
