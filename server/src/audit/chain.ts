/**
 * The audit log as a hash chain (docs/audit.md). Each row's hash covers its fields and the
 * previous row's hash; the server signs checkpoints (seq, hash) that agents keep, so a
 * truncated tail or a chain re-hashed from the start is caught against a checkpoint.
 */
import { z } from 'zod';
import { canonicalJson, utf8 } from '@candor/shared/encoding';
import { canonicalHash, fromBase64Url, sign, toBase64Url, verifySignature, type SigningKeyPair } from '@candor/shared/crypto';
import { Base64Url, HashHex, KeyId, UtcTimestamp } from '@candor/shared/schemas/primitives';
import type { AuditRow } from '../db/queries/audit.ts';

export const GENESIS_HASH = '0'.repeat(64);
const CHECKPOINT_DOMAIN = 'candor/audit-checkpoint/v1\n';

export type AuditEntry = {
  actor: string;
  action: string;
  studyId: string | null;
  target: string | null;
  reason: string;
  outcome: 'allowed' | 'refused' | 'done';
};

export function hashAuditRow(row: Omit<AuditRow, 'hash'>): string {
  return canonicalHash({
    seq: row.seq,
    at: row.at,
    actor: row.actor,
    action: row.action,
    studyId: row.studyId,
    target: row.target,
    reason: row.reason,
    outcome: row.outcome,
    prevHash: row.prevHash,
  });
}

/** The next row of the chain after `last`. */
export function nextAuditRow(last: AuditRow | undefined, entry: AuditEntry, at: Date): AuditRow {
  const row = { ...entry, seq: (last?.seq ?? 0) + 1, at: at.toISOString(), prevHash: last?.hash ?? GENESIS_HASH };
  return { ...row, hash: hashAuditRow(row) };
}

export const AuditCheckpointBody = z.strictObject({ seq: z.int().min(0), hash: HashHex, signedAt: UtcTimestamp, serverKeyId: KeyId });
export const AuditCheckpoint = z.strictObject({ checkpoint: AuditCheckpointBody, signature: Base64Url.length(86) });
export type AuditCheckpoint = z.infer<typeof AuditCheckpoint>;

export function signCheckpoint(last: AuditRow | undefined, key: SigningKeyPair, at: Date): AuditCheckpoint {
  const checkpoint = { seq: last?.seq ?? 0, hash: last?.hash ?? GENESIS_HASH, signedAt: at.toISOString(), serverKeyId: key.keyId };
  return { checkpoint, signature: toBase64Url(sign(utf8(CHECKPOINT_DOMAIN + canonicalJson(checkpoint)), key.secretKey)) };
}

export function verifyCheckpointSignature(checkpoint: AuditCheckpoint, publicKeys: ReadonlyMap<string, Uint8Array>): boolean {
  const publicKey = publicKeys.get(checkpoint.checkpoint.serverKeyId);
  return (
    publicKey !== undefined &&
    verifySignature(fromBase64Url(checkpoint.signature), utf8(CHECKPOINT_DOMAIN + canonicalJson(checkpoint.checkpoint)), publicKey)
  );
}

export type AuditProblem = { seq: number; problem: string };

/**
 * Walks the rows in stored order. Catches an edited row (its hash no longer matches), a
 * deleted, inserted or reordered row (sequence or link broken), and with a checkpoint a
 * truncated tail or a re-hashed chain (the checkpointed row is missing or differs).
 */
export function verifyAuditChain(
  rows: readonly AuditRow[],
  checkpoint?: { value: AuditCheckpoint; publicKeys: ReadonlyMap<string, Uint8Array> },
): AuditProblem[] {
  const problems: AuditProblem[] = [];
  let previous: AuditRow | undefined;
  for (const row of rows) {
    const expectedSeq = (previous?.seq ?? 0) + 1;
    if (row.seq !== expectedSeq) problems.push({ seq: row.seq, problem: `expected entry ${expectedSeq} here (deleted, inserted or reordered)` });
    if (row.prevHash !== (previous?.hash ?? GENESIS_HASH)) problems.push({ seq: row.seq, problem: 'does not link to the entry before it' });
    if (row.hash !== hashAuditRow(row)) problems.push({ seq: row.seq, problem: 'contents do not match its hash (edited)' });
    previous = row;
  }
  if (checkpoint) {
    const { checkpoint: body } = checkpoint.value;
    if (!verifyCheckpointSignature(checkpoint.value, checkpoint.publicKeys)) {
      problems.push({ seq: body.seq, problem: 'checkpoint signature does not verify with any server key' });
    } else if (body.seq > 0) {
      const held = rows.find((row) => row.seq === body.seq);
      if (!held) problems.push({ seq: body.seq, problem: 'checkpointed entry is missing (log truncated)' });
      else if (held.hash !== body.hash) problems.push({ seq: body.seq, problem: 'checkpointed entry has another hash (log rewritten)' });
    }
  }
  return problems;
}
