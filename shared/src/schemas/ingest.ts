import { z } from 'zod';
import { Base64Url, KeyId, Slug, UtcTimestamp } from './primitives.ts';
import { BatchId } from './envelope.ts';

/**
 * The HTTP contract between the agent's uploader and the server's ingest and erasure routes
 * (JSON under /api/v1). The envelope itself (schemas/envelope.ts) authenticates the device:
 * its signature is checked against the registered device key named by `senderKeyId`.
 */
export const API_PATHS = {
  /** POST a SealedEnvelope; 201 IngestAccepted when stored, 200 IngestAccepted when already held. */
  ingest: '/api/v1/ingest',
  /** POST a SignedErasureRequest; 200 ErasureAck once the participant's data is destroyed. */
  erasure: '/api/v1/erasure',
} as const;

export const IngestAccepted = z.strictObject({ batchId: BatchId, status: z.enum(['stored', 'duplicate']) });
export type IngestAccepted = z.infer<typeof IngestAccepted>;

/**
 * Every 4xx/5xx body. 4xx is final for the uploader (the batch is dropped and counted);
 * 5xx, 429 and network errors are retried with backoff.
 */
export const ApiError = z.strictObject({ error: z.strictObject({ code: z.string().min(1).max(64), message: z.string().max(1000) }) });
export type ApiError = z.infer<typeof ApiError>;

/** Signed by the device key over "candor/erasure/v1\n" ‖ JCS(request). */
export const ErasureRequest = z.strictObject({
  studyId: Slug,
  deviceKeyId: KeyId,
  requestedAt: UtcTimestamp,
  /** Random per request, so an acknowledgement answers exactly this request. */
  requestId: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
});
export const SignedErasureRequest = z.strictObject({ request: ErasureRequest, signature: Base64Url.length(86) });
export type SignedErasureRequest = z.infer<typeof SignedErasureRequest>;

/** Signed by the server key over "candor/erasure-ack/v1\n" ‖ JCS(ack); the agent verifies it. */
export const ErasureAck = z.strictObject({
  requestId: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
  studyId: Slug,
  deviceKeyId: KeyId,
  erasedAt: UtcTimestamp,
  serverKeyId: KeyId,
});
export const SignedErasureAck = z.strictObject({ ack: ErasureAck, signature: Base64Url.length(86) });
export type SignedErasureAck = z.infer<typeof SignedErasureAck>;
