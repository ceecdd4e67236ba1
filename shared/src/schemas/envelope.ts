import { z } from 'zod';
import { PRIVACY_LIMITS } from '../defaults.ts';
import { Base64Url, KeyId, Slug, UtcTimestamp } from './primitives.ts';
import { WindowAggregate } from './window.ts';

export const ENVELOPE_VERSION = 1;

/**
 * A batch's id: BLAKE2b-256 of the batch's canonical content, keyed with a secret that never
 * leaves the device. The same batch always gets the same id, so a retry cannot be stored
 * twice; the key stops the server from confirming a guess of the content by hashing it.
 */
export const BatchId = z.string().regex(/^[0-9a-f]{64}$/, 'expected a 256-bit hex batch id');

/** The clear header of a sealed upload (docs/crypto.md). */
export const EnvelopeHeader = z.strictObject({
  v: z.literal(ENVELOPE_VERSION),
  studyId: Slug,
  studyVersion: z.int().min(1),
  batchId: BatchId,
  senderKeyId: KeyId,
  recipientKeyId: KeyId,
  createdAt: UtcTimestamp,
  ephemeralPublicKey: Base64Url.length(43),
  nonce: Base64Url.length(32),
});

export const SealedEnvelope = z.strictObject({
  header: EnvelopeHeader,
  ciphertext: Base64Url.min(1).max(Math.ceil((PRIVACY_LIMITS.maxUploadBodyBytes * 4) / 3)),
  signature: Base64Url.length(86),
});
export type SealedEnvelope = z.infer<typeof SealedEnvelope>;
export type EnvelopeHeader = z.infer<typeof EnvelopeHeader>;

/** What is inside the envelope once the aggregator opens it. */
export const UploadBatch = z
  .strictObject({
    batchId: BatchId,
    windows: z.array(WindowAggregate).min(1).max(500),
  })
  .superRefine((batch, ctx) => {
    const versions = new Set(batch.windows.map((window) => `${window.studyId}@${window.studyVersion}`));
    if (versions.size > 1) ctx.addIssue({ code: 'custom', path: ['windows'], message: 'a batch holds one study version' });
  });
export type UploadBatch = z.infer<typeof UploadBatch>;
