/** The audit chain's rows. The hashing lives in audit/chain.ts; the table itself refuses UPDATE and DELETE. */
import { statement, type SqliteDatabase } from '../sqlite.ts';

export type AuditRow = {
  seq: number;
  at: string;
  actor: string;
  action: string;
  studyId: string | null;
  target: string | null;
  reason: string;
  outcome: string;
  prevHash: string;
  hash: string;
};

type RawAudit = {
  seq: number;
  at: string;
  actor: string;
  action: string;
  study_id: string | null;
  target: string | null;
  reason: string;
  outcome: string;
  prev_hash: string;
  hash: string;
};
const toAudit = (row: RawAudit): AuditRow => ({
  seq: row.seq,
  at: row.at,
  actor: row.actor,
  action: row.action,
  studyId: row.study_id,
  target: row.target,
  reason: row.reason,
  outcome: row.outcome,
  prevHash: row.prev_hash,
  hash: row.hash,
});

export function lastAuditRow(db: SqliteDatabase): AuditRow | undefined {
  const row = statement(db, 'SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1').get() as RawAudit | undefined;
  return row && toAudit(row);
}

export function insertAuditRow(db: SqliteDatabase, row: AuditRow): void {
  statement(db, 
    'INSERT INTO audit_log (seq, at, actor, action, study_id, target, reason, outcome, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  ).run(row.seq, row.at, row.actor, row.action, row.studyId, row.target, row.reason, row.outcome, row.prevHash, row.hash);
}

/** In file order (rowid), not by seq, so the verifier sees reordered rows as they are stored. */
export function allAuditRows(db: SqliteDatabase): AuditRow[] {
  return (statement(db, 'SELECT * FROM audit_log ORDER BY rowid').all() as RawAudit[]).map(toAudit);
}

export function auditRowsOfStudies(db: SqliteDatabase, args: { studyIds: readonly string[]; limit: number }): AuditRow[] {
  if (args.studyIds.length === 0) return [];
  const rows = statement(db, 'SELECT * FROM audit_log WHERE study_id IN (SELECT value FROM json_each(?)) ORDER BY seq DESC LIMIT ?')
    .all(JSON.stringify(args.studyIds), args.limit) as RawAudit[];
  return rows.map(toAudit);
}

export function recentAuditRows(db: SqliteDatabase, limit: number): AuditRow[] {
  return (statement(db, 'SELECT * FROM audit_log ORDER BY seq DESC LIMIT ?').all(limit) as RawAudit[]).map(toAudit);
}
