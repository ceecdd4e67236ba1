/**
 * Candor's cryptography, all on libsodium. The formats are specified in docs/crypto.md;
 * change one only together with its version byte or field.
 *
 * - Signatures: Ed25519 (device keys, server countersignatures, audit checkpoints).
 * - Envelopes: encrypt-then-sign. The payload is sealed to the study's X25519 key with an
 *   ephemeral key and XChaCha20-Poly1305 whose associated data is the header; the device
 *   signs header and ciphertext, so the API server can check who sent a batch without
 *   being able to read it.
 * - Records at rest: XChaCha20-Poly1305 with a random nonce, an explicit key id and the
 *   record's identity as associated data.
 */
import sodium from 'libsodium-wrappers';
import { CandorError } from './errors.ts';
import { canonicalJson, concatBytes, fromUtf8, u32, utf8 } from './encoding.ts';
import { ENVELOPE_VERSION, type EnvelopeHeader, type SealedEnvelope } from './schemas/envelope.ts';

await sodium.ready;

export type CryptoErrorCode =
  | 'crypto.bad-signature'
  | 'crypto.decrypt-failed'
  | 'crypto.malformed'
  | 'crypto.unknown-key'
  | 'crypto.unsupported-version'
  | 'crypto.wrong-recipient';

/** Every cryptographic failure is one of these: never a crash, never garbage output. */
export class CryptoError extends CandorError {
  declare readonly code: CryptoErrorCode;

  constructor(code: CryptoErrorCode, message: string) {
    super(code, message);
    this.name = 'CryptoError';
  }
}

export const KEY_BYTES = 32;
export const NONCE_BYTES = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
const TAG_BYTES = sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES;
const SIGNATURE_BYTES = sodium.crypto_sign_BYTES;

// ---------------------------------------------------------------------------------------------
// Encoding and hashing

export function toBase64Url(bytes: Uint8Array): string {
  return sodium.to_base64(bytes, sodium.base64_variants.URLSAFE_NO_PADDING);
}

/** @throws CryptoError `crypto.malformed` when the text is not unpadded base64url. */
export function fromBase64Url(text: string): Uint8Array {
  try {
    return sodium.from_base64(text, sodium.base64_variants.URLSAFE_NO_PADDING);
  } catch {
    throw new CryptoError('crypto.malformed', 'not base64url');
  }
}

export function toHex(bytes: Uint8Array): string {
  return sodium.to_hex(bytes);
}

/**
 * The content hash used in consent receipts, policies, scopes and the audit chain:
 * BLAKE2b-256 (RFC 7693) as lowercase hex. libsodium's default build has no SHA-2.
 */
export function contentHash(data: Uint8Array | string): string {
  return sodium.to_hex(blake2b(typeof data === 'string' ? utf8(data) : data, 32));
}

/** The content hash of a value's RFC 8785 canonical JSON. */
export function canonicalHash(value: unknown): string {
  return contentHash(canonicalJson(value));
}

/** BLAKE2b with an optional key; `length` in bytes (16..64). */
export function blake2b(data: Uint8Array, length = 32, key?: Uint8Array): Uint8Array {
  return sodium.crypto_generichash(length, data, key ?? null);
}

export function randomBytes(length: number): Uint8Array {
  return sodium.randombytes_buf(length);
}

/**
 * A random identifier, base64url of 16 random bytes, that never begins with `-`: people pass
 * these to commands (`candor delete ID`), and a command line takes a leading `-` for an option.
 * One in 64 draws is drawn again, so it keeps all but 0.02 of its 128 bits.
 */
export function randomId(): string {
  for (;;) {
    const id = toBase64Url(randomBytes(16));
    if (!id.startsWith('-')) return id;
  }
}

/** Constant-time equality; unequal lengths are unequal (the length is not secret). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return sodium.memcmp(a, b);
}

/** Overwrites key material in place; call when a key's owner closes. */
export function wipe(bytes: Uint8Array): void {
  sodium.memzero(bytes);
}

/** A key's public name: base64url of a 16-byte BLAKE2b of its public half. */
export function keyIdOf(publicKey: Uint8Array): string {
  return toBase64Url(blake2b(publicKey, 16));
}

// ---------------------------------------------------------------------------------------------
// Signatures (Ed25519)

export type SigningKeyPair = { keyId: string; publicKey: Uint8Array; secretKey: Uint8Array };

export function generateSigningKeyPair(): SigningKeyPair {
  const { publicKey, privateKey } = sodium.crypto_sign_keypair();
  return { keyId: keyIdOf(publicKey), publicKey, secretKey: privateKey };
}

/** Rebuilds a signing key pair from its 64-byte secret key (which embeds the public key). */
export function signingKeyPairFromSecret(secretKey: Uint8Array): SigningKeyPair {
  if (secretKey.length !== sodium.crypto_sign_SECRETKEYBYTES) {
    throw new CryptoError('crypto.malformed', 'signing secret key has the wrong length');
  }
  // An Ed25519 secret key is seed ‖ public key; re-deriving from the seed also proves the
  // stored public half was not swapped.
  const { publicKey, privateKey } = sodium.crypto_sign_seed_keypair(secretKey.subarray(0, sodium.crypto_sign_SEEDBYTES));
  if (!constantTimeEqual(privateKey, secretKey)) throw new CryptoError('crypto.malformed', 'signing secret key is inconsistent');
  return { keyId: keyIdOf(publicKey), publicKey, secretKey: privateKey };
}

export function sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return sodium.crypto_sign_detached(message, secretKey);
}

export function verifySignature(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES || publicKey.length !== sodium.crypto_sign_PUBLICKEYBYTES) return false;
  try {
    return sodium.crypto_sign_verify_detached(signature, message, publicKey);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Sealing keys (X25519), used as the recipient of envelopes

export type SealingKeyPair = { keyId: string; publicKey: Uint8Array; secretKey: Uint8Array };

export function generateSealingKeyPair(): SealingKeyPair {
  const { publicKey, privateKey } = sodium.crypto_box_keypair();
  return { keyId: keyIdOf(publicKey), publicKey, secretKey: privateKey };
}

export function sealingKeyPairFromSecret(secretKey: Uint8Array): SealingKeyPair {
  if (secretKey.length !== sodium.crypto_box_SECRETKEYBYTES) {
    throw new CryptoError('crypto.malformed', 'sealing secret key has the wrong length');
  }
  const publicKey = sodium.crypto_scalarmult_base(secretKey);
  return { keyId: keyIdOf(publicKey), publicKey, secretKey };
}

// ---------------------------------------------------------------------------------------------
// Symmetric keys and key derivation

export type DataKey = { keyId: string; key: Uint8Array };

/** A fresh random key. Random, not derived, so that deleting it really destroys it. */
export function generateDataKey(): DataKey {
  return { keyId: randomId(), key: sodium.crypto_aead_xchacha20poly1305_ietf_keygen() };
}

/**
 * Derives a sub-key for one purpose. `context` is exactly 8 ASCII characters naming the
 * purpose; derived keys can always be derived again, so never use one where a key must be
 * destroyable.
 */
export function deriveSubkey(masterKey: Uint8Array, context: string, subkeyId: number, length = KEY_BYTES): Uint8Array {
  if (!/^[\x20-\x7e]{8}$/.test(context)) throw new CryptoError('crypto.malformed', 'KDF context must be 8 ASCII characters');
  if (masterKey.length !== sodium.crypto_kdf_KEYBYTES) throw new CryptoError('crypto.malformed', 'KDF master key has the wrong length');
  return sodium.crypto_kdf_derive_from_key(length, subkeyId, context, masterKey);
}

// ---------------------------------------------------------------------------------------------
// Records at rest: version | keyIdLength | keyId | nonce | ciphertext+tag

const RECORD_VERSION = 1;

function recordAssociatedData(keyId: Uint8Array, associatedData: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(RECORD_VERSION), u32(keyId.length), keyId, u32(associatedData.length), associatedData);
}

/**
 * Encrypts one record under `dataKey` with a fresh random nonce. `associatedData` names the
 * record (its table and id), so a ciphertext moved to another row fails to decrypt.
 */
export function encryptRecord(dataKey: DataKey, plaintext: Uint8Array, associatedData: Uint8Array): Uint8Array {
  const keyId = utf8(dataKey.keyId);
  if (keyId.length === 0 || keyId.length > 255) throw new CryptoError('crypto.malformed', 'key id must be 1..255 bytes');
  if (dataKey.key.length !== KEY_BYTES) throw new CryptoError('crypto.malformed', 'data key has the wrong length');
  const nonce = randomBytes(NONCE_BYTES);
  const ciphertext = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
    plaintext,
    recordAssociatedData(keyId, associatedData),
    null,
    nonce,
    dataKey.key,
  );
  return concatBytes(Uint8Array.of(RECORD_VERSION, keyId.length), keyId, nonce, ciphertext);
}

/** Reads the key id of an encrypted record without decrypting it. */
export function recordKeyId(blob: Uint8Array): string {
  const version = blob[0];
  if (version === undefined) throw new CryptoError('crypto.malformed', 'record is empty');
  if (version !== RECORD_VERSION) throw new CryptoError('crypto.unsupported-version', `record version ${version} is not supported`);
  const keyIdLength = blob[1] ?? 0;
  if (keyIdLength === 0 || blob.length < 2 + keyIdLength + NONCE_BYTES + TAG_BYTES) {
    throw new CryptoError('crypto.malformed', 'record is truncated');
  }
  try {
    return fromUtf8(blob.subarray(2, 2 + keyIdLength));
  } catch {
    throw new CryptoError('crypto.malformed', 'record key id is not UTF-8');
  }
}

/**
 * @throws CryptoError `crypto.unknown-key` when `lookupKey` has no key for the record,
 * `crypto.decrypt-failed` when the ciphertext, nonce, key or associated data do not match,
 * `crypto.malformed` / `crypto.unsupported-version` for a blob that is not a record.
 */
export function decryptRecord(
  blob: Uint8Array,
  lookupKey: (keyId: string) => Uint8Array | undefined,
  associatedData: Uint8Array,
): Uint8Array {
  const keyIdText = recordKeyId(blob);
  const keyIdLength = blob[1] ?? 0;
  const key = lookupKey(keyIdText);
  if (key === undefined) throw new CryptoError('crypto.unknown-key', 'no key for this record (it may have been destroyed)');
  const nonceStart = 2 + keyIdLength;
  const nonce = blob.subarray(nonceStart, nonceStart + NONCE_BYTES);
  const ciphertext = blob.subarray(nonceStart + NONCE_BYTES);
  try {
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      ciphertext,
      recordAssociatedData(blob.subarray(2, nonceStart), associatedData),
      nonce,
      key,
    );
  } catch {
    throw new CryptoError('crypto.decrypt-failed', 'record failed authentication');
  }
}

/** Wraps a data key under a master key; the wrapped form is itself a record bound to the key id. */
export function wrapDataKey(masterKey: DataKey, dataKey: DataKey): Uint8Array {
  return encryptRecord(masterKey, dataKey.key, utf8(`candor/wrapped-key/${dataKey.keyId}`));
}

/** @throws CryptoError as `decryptRecord`. */
export function unwrapDataKey(masterKey: DataKey, keyId: string, wrapped: Uint8Array): DataKey {
  const key = decryptRecord(wrapped, (id) => (id === masterKey.keyId ? masterKey.key : undefined), utf8(`candor/wrapped-key/${keyId}`));
  return { keyId, key };
}

// ---------------------------------------------------------------------------------------------
// Envelopes: signed by the sender's device key, sealed to the recipient's key

const ENVELOPE_DOMAIN = utf8('candor/envelope/v1');

export type EnvelopeAddress = Pick<EnvelopeHeader, 'studyId' | 'studyVersion' | 'batchId' | 'createdAt'>;

function envelopeKey(shared: Uint8Array, ephemeralPublicKey: Uint8Array, recipientPublicKey: Uint8Array): Uint8Array {
  return blake2b(concatBytes(ENVELOPE_DOMAIN, shared, ephemeralPublicKey, recipientPublicKey), KEY_BYTES);
}

function envelopeSigningBytes(header: EnvelopeHeader, ciphertext: Uint8Array): Uint8Array {
  const headerBytes = utf8(canonicalJson(header));
  return concatBytes(ENVELOPE_DOMAIN, u32(headerBytes.length), headerBytes, ciphertext);
}

/** Seals `payload` to `recipientPublicKey` and signs the result with the sender's key. */
export function sealEnvelope(
  payload: Uint8Array,
  address: EnvelopeAddress,
  sender: SigningKeyPair,
  recipientPublicKey: Uint8Array,
): SealedEnvelope {
  const ephemeral = sodium.crypto_box_keypair();
  const shared = sodium.crypto_scalarmult(ephemeral.privateKey, recipientPublicKey);
  const key = envelopeKey(shared, ephemeral.publicKey, recipientPublicKey);
  wipe(shared);
  wipe(ephemeral.privateKey);
  const nonce = randomBytes(NONCE_BYTES);
  const header: EnvelopeHeader = {
    v: ENVELOPE_VERSION,
    studyId: address.studyId,
    studyVersion: address.studyVersion,
    batchId: address.batchId,
    senderKeyId: sender.keyId,
    recipientKeyId: keyIdOf(recipientPublicKey),
    createdAt: address.createdAt,
    ephemeralPublicKey: toBase64Url(ephemeral.publicKey),
    nonce: toBase64Url(nonce),
  };
  const ciphertext = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(payload, utf8(canonicalJson(header)), null, nonce, key);
  wipe(key);
  const signature = sign(envelopeSigningBytes(header, ciphertext), sender.secretKey);
  return { header, ciphertext: toBase64Url(ciphertext), signature: toBase64Url(signature) };
}

/**
 * What the API server can check without the study key: the signature over header and
 * ciphertext, by the sender it names.
 * @throws CryptoError `crypto.unsupported-version`, `crypto.malformed`, `crypto.bad-signature`.
 */
export function verifyEnvelope(envelope: SealedEnvelope, senderPublicKey: Uint8Array): void {
  // Typed as the current version, but a caller may hand over an envelope it has not parsed.
  if ((envelope.header.v as number) !== ENVELOPE_VERSION) {
    throw new CryptoError('crypto.unsupported-version', `envelope version ${String(envelope.header.v)} is not supported`);
  }
  if (envelope.header.senderKeyId !== keyIdOf(senderPublicKey)) {
    throw new CryptoError('crypto.bad-signature', 'envelope names a different sender key');
  }
  const ciphertext = fromBase64Url(envelope.ciphertext);
  const signature = fromBase64Url(envelope.signature);
  if (!verifySignature(signature, envelopeSigningBytes(envelope.header, ciphertext), senderPublicKey)) {
    throw new CryptoError('crypto.bad-signature', 'envelope signature does not verify');
  }
}

/**
 * Verifies and opens an envelope: only the holder of the recipient's secret key can.
 * @throws CryptoError `crypto.wrong-recipient` when sealed to another key, `crypto.decrypt-failed`
 * when the ciphertext or header was altered, and as `verifyEnvelope`.
 */
export function openEnvelope(envelope: SealedEnvelope, senderPublicKey: Uint8Array, recipient: SealingKeyPair): Uint8Array {
  verifyEnvelope(envelope, senderPublicKey);
  if (envelope.header.recipientKeyId !== recipient.keyId) {
    throw new CryptoError('crypto.wrong-recipient', 'envelope is sealed to another key');
  }
  const ephemeralPublicKey = fromBase64Url(envelope.header.ephemeralPublicKey);
  const nonce = fromBase64Url(envelope.header.nonce);
  if (ephemeralPublicKey.length !== sodium.crypto_box_PUBLICKEYBYTES || nonce.length !== NONCE_BYTES) {
    throw new CryptoError('crypto.malformed', 'envelope header has a malformed key or nonce');
  }
  let shared: Uint8Array;
  try {
    shared = sodium.crypto_scalarmult(recipient.secretKey, ephemeralPublicKey);
  } catch {
    // libsodium refuses low-order points (an all-zero shared secret).
    throw new CryptoError('crypto.decrypt-failed', 'envelope ephemeral key is invalid');
  }
  const key = envelopeKey(shared, ephemeralPublicKey, recipient.publicKey);
  wipe(shared);
  try {
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      fromBase64Url(envelope.ciphertext),
      utf8(canonicalJson(envelope.header)),
      nonce,
      key,
    );
  } catch {
    throw new CryptoError('crypto.decrypt-failed', 'envelope failed authentication');
  } finally {
    wipe(key);
  }
}
