/**
 * The audit log's signed checkpoints, one implementation for the server that signs them and
 * the agents that keep them (docs/audit.md): the sequence number and hash of the newest entry,
 * signed with the server's Ed25519 key over a domain string and RFC 8785 JSON. A checkpoint
 * held outside the server catches a log that later lost its tail or was re-hashed.
 * Runtime-neutral: no Node APIs.
 */
import { z } from 'zod';
import { fromBase64Url, sign, toBase64Url, verifySignature, type SigningKeyPair } from './crypto.ts';
import { canonicalJson, utf8 } from './encoding.ts';
import { Base64Url, HashHex, KeyId, UtcTimestamp } from './schemas/primitives.ts';
import { parseJsonOrUndefined } from './validation.ts';

const CHECKPOINT_DOMAIN = 'candor/audit-checkpoint/v1\n';

export const AuditCheckpointBody = z.strictObject({ seq: z.int().min(0), hash: HashHex, signedAt: UtcTimestamp, serverKeyId: KeyId });
export type AuditCheckpointBody = z.infer<typeof AuditCheckpointBody>;
export const AuditCheckpoint = z.strictObject({ checkpoint: AuditCheckpointBody, signature: Base64Url.length(86) });
export type AuditCheckpoint = z.infer<typeof AuditCheckpoint>;

/** Two checkpoints of one server that cannot both be true, as an agent keeps them (`audit-contradictions.jsonl`). */
export const AuditContradiction = z.strictObject({ seenAt: UtcTimestamp, verdict: z.enum(['truncated', 'rewritten']), held: AuditCheckpoint, offered: AuditCheckpoint });
export type AuditContradiction = z.infer<typeof AuditContradiction>;

/**
 * The checkpoints in one line (or file) an agent keeps: a checkpoint, or the two of a
 * contradiction; undefined when it is neither (a torn line, say). The one reading of
 * `audit-checkpoint.json`, `audit-checkpoints.jsonl` and `audit-contradictions.jsonl`.
 */
export function checkpointsIn(text: string): AuditCheckpoint[] | undefined {
  const checkpoint = parseJsonOrUndefined(AuditCheckpoint, text);
  if (checkpoint) return [checkpoint];
  const contradiction = parseJsonOrUndefined(AuditContradiction, text);
  return contradiction ? [contradiction.held, contradiction.offered] : undefined;
}

const signingBytes = (body: AuditCheckpointBody): Uint8Array => utf8(CHECKPOINT_DOMAIN + canonicalJson(body));

/** The server's half: `body.serverKeyId` must be `key`'s id. */
export function signAuditCheckpoint(body: AuditCheckpointBody, key: SigningKeyPair): AuditCheckpoint {
  return { checkpoint: body, signature: toBase64Url(sign(signingBytes(body), key.secretKey)) };
}

/** Whether `publicKey` (the key the checkpoint names) signed it. */
export function auditCheckpointVerifies(checkpoint: AuditCheckpoint, publicKey: Uint8Array): boolean {
  return verifySignature(fromBase64Url(checkpoint.signature), signingBytes(checkpoint.checkpoint), publicKey);
}
