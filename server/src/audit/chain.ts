/**
 * The audit log as a hash chain (docs/audit.md). Each row's hash covers its fields and the
 * previous row's hash; the server signs checkpoints (seq, hash) that agents keep, so a
 * truncated tail or a chain re-hashed from the start is caught against a checkpoint.
 */
import { auditCheckpointVerifies, signAuditCheckpoint, type AuditCheckpoint } from '@candor/shared/audit-checkpoint';
import { canonicalHash, type SigningKeyPair } from '@candor/shared/crypto';
import type { AuditRow } from '../db/queries/audit.ts';

export const GENESIS_HASH = '0'.repeat(64);

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

export function signCheckpoint(last: AuditRow | undefined, key: SigningKeyPair, at: Date): AuditCheckpoint {
  return signAuditCheckpoint({ seq: last?.seq ?? 0, hash: last?.hash ?? GENESIS_HASH, signedAt: at.toISOString(), serverKeyId: key.keyId }, key);
}

/** Whether one of the server's keys, past or present, signed the checkpoint. */
export function verifyCheckpointSignature(checkpoint: AuditCheckpoint, publicKeys: ReadonlyMap<string, Uint8Array>): boolean {
  const publicKey = publicKeys.get(checkpoint.checkpoint.serverKeyId);
  return publicKey !== undefined && auditCheckpointVerifies(checkpoint, publicKey);
}

export type AuditProblem = { seq: number; problem: string };

/**
 * Walks the rows in stored order. Catches an edited row (its hash no longer matches), a
 * deleted, inserted or reordered row (sequence or link broken), and against signed checkpoints
 * (an agent keeps them) a truncated tail or a re-hashed chain (a checkpointed row is missing or differs).
 */
export function verifyAuditChain(
  rows: readonly AuditRow[],
  checkpoints?: { values: readonly AuditCheckpoint[]; publicKeys: ReadonlyMap<string, Uint8Array> },
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
  const bySeq = new Map(rows.map((row) => [row.seq, row]));
  for (const checkpoint of checkpoints?.values ?? []) {
    const { checkpoint: body } = checkpoint;
    if (!verifyCheckpointSignature(checkpoint, checkpoints?.publicKeys ?? new Map())) {
      problems.push({ seq: body.seq, problem: 'checkpoint signature does not verify with any server key' });
    } else if (body.seq > 0) {
      const held = bySeq.get(body.seq);
      if (!held) problems.push({ seq: body.seq, problem: 'checkpointed entry is missing (log truncated)' });
      else if (held.hash !== body.hash) problems.push({ seq: body.seq, problem: 'checkpointed entry has another hash (log rewritten)' });
    }
  }
  return problems;
}
