/** Studies and their immutable versions. */
import { statement, type SqliteDatabase } from '../sqlite.ts';

export type StudyStatus = 'draft' | 'open' | 'closed';
export type VersionState = 'draft' | 'in_review' | 'approved' | 'rejected';
export type StudyRow = { id: string; createdBy: string; status: StudyStatus; currentVersion: number | null; createdAt: string };
export type StudyVersionRow = {
  studyId: string;
  version: number;
  body: string;
  scopeHash: string;
  state: VersionState;
  authorId: string;
  reviewedBy: string | null;
  createdAt: string;
};

type RawStudy = { id: string; created_by: string; status: StudyStatus; current_version: number | null; created_at: string };
const toStudy = (row: RawStudy): StudyRow => ({
  id: row.id,
  createdBy: row.created_by,
  status: row.status,
  currentVersion: row.current_version,
  createdAt: row.created_at,
});
type RawVersion = {
  study_id: string;
  version: number;
  body: string;
  scope_hash: string;
  state: VersionState;
  author_id: string;
  reviewed_by: string | null;
  created_at: string;
};
const toVersion = (row: RawVersion): StudyVersionRow => ({
  studyId: row.study_id,
  version: row.version,
  body: row.body,
  scopeHash: row.scope_hash,
  state: row.state,
  authorId: row.author_id,
  reviewedBy: row.reviewed_by,
  createdAt: row.created_at,
});

export function insertStudy(db: SqliteDatabase, study: Omit<StudyRow, 'status' | 'currentVersion'>): void {
  statement(db, "INSERT INTO studies (id, created_by, status, created_at) VALUES (?, ?, 'draft', ?)").run(study.id, study.createdBy, study.createdAt);
}

export function findStudy(db: SqliteDatabase, id: string): StudyRow | undefined {
  const row = statement(db, 'SELECT * FROM studies WHERE id = ?').get(id) as RawStudy | undefined;
  return row && toStudy(row);
}

export function setStudyStatus(db: SqliteDatabase, args: { id: string; status: StudyStatus; currentVersion: number | null }): void {
  statement(db, 'UPDATE studies SET status = ?, current_version = ? WHERE id = ?').run(args.status, args.currentVersion, args.id);
}

export function insertStudyVersion(db: SqliteDatabase, version: Omit<StudyVersionRow, 'state' | 'reviewedBy'>): void {
  statement(db, 
    "INSERT INTO study_versions (study_id, version, body, scope_hash, state, author_id, created_at) VALUES (?, ?, ?, ?, 'draft', ?, ?)",
  ).run(version.studyId, version.version, version.body, version.scopeHash, version.authorId, version.createdAt);
}

export function findStudyVersion(db: SqliteDatabase, args: { studyId: string; version: number }): StudyVersionRow | undefined {
  const row = statement(db, 'SELECT * FROM study_versions WHERE study_id = ? AND version = ?').get(args.studyId, args.version) as
    | RawVersion
    | undefined;
  return row && toVersion(row);
}

export function listStudyVersions(db: SqliteDatabase, studyId: string): StudyVersionRow[] {
  return (statement(db, 'SELECT * FROM study_versions WHERE study_id = ? ORDER BY version').all(studyId) as RawVersion[]).map(toVersion);
}

export function newestVersionNumber(db: SqliteDatabase, studyId: string): number {
  const row = statement(db, 'SELECT max(version) AS newest FROM study_versions WHERE study_id = ?').get(studyId) as { newest: number | null };
  return row.newest ?? 0;
}

export function setVersionState(
  db: SqliteDatabase,
  args: { studyId: string; version: number; state: VersionState; reviewedBy: string | null },
): void {
  statement(db, 'UPDATE study_versions SET state = ?, reviewed_by = ? WHERE study_id = ? AND version = ?').run(
    args.state,
    args.reviewedBy,
    args.studyId,
    args.version,
  );
}

/** Every approved version, oldest first per study: what the aggregator may open, and whose retention it enforces. */
export function listApprovedStudyVersions(db: SqliteDatabase): StudyVersionRow[] {
  return (statement(db, "SELECT * FROM study_versions WHERE state = 'approved' ORDER BY study_id, version").all() as RawVersion[]).map(toVersion);
}
