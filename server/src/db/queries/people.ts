/** Accounts, role grants, sessions and API tokens. Plain functions of (db, args); values always bound. */
import type { Role } from '@candor/shared/schemas/primitives';
import { statement, type SqliteDatabase } from '../sqlite.ts';

export type UserRow = { id: string; username: string; passwordHash: string; disabled: boolean; createdAt: string; createdBy: string | null };
export type GrantRow = { id: string; userId: string; role: Role; studyId: string | null; grantedBy: string | null; createdAt: string };
export type SessionRow = { tokenHash: string; userId: string; csrfHash: string; createdAtMs: number; lastSeenMs: number };
export type ApiTokenRow = { id: string; tokenHash: string; userId: string; expiresAtMs: number; revoked: boolean };

type RawUser = { id: string; username: string; password_hash: string; disabled: number; created_at: string; created_by: string | null };
const toUser = (row: RawUser | undefined): UserRow | undefined =>
  row && { id: row.id, username: row.username, passwordHash: row.password_hash, disabled: row.disabled === 1, createdAt: row.created_at, createdBy: row.created_by };

export function insertUser(db: SqliteDatabase, user: Omit<UserRow, 'disabled' | 'createdBy'> & { createdBy?: string }): void {
  statement(db, 'INSERT INTO users (id, username, password_hash, created_at, created_by) VALUES (?, ?, ?, ?, ?)').run(
    user.id,
    user.username,
    user.passwordHash,
    user.createdAt,
    user.createdBy ?? null,
  );
}

export function findUserByUsername(db: SqliteDatabase, username: string): UserRow | undefined {
  return toUser(statement(db, 'SELECT * FROM users WHERE username = ?').get(username) as RawUser | undefined);
}

export function findUserById(db: SqliteDatabase, id: string): UserRow | undefined {
  return toUser(statement(db, 'SELECT * FROM users WHERE id = ?').get(id) as RawUser | undefined);
}

export function setUserDisabled(db: SqliteDatabase, args: { id: string; disabled: boolean }): boolean {
  return statement(db, 'UPDATE users SET disabled = ? WHERE id = ?').run(args.disabled ? 1 : 0, args.id).changes === 1;
}

type RawGrant = { id: string; user_id: string; role: Role; study_id: string | null; granted_by: string | null; created_at: string };
const toGrant = (row: RawGrant): GrantRow => ({
  id: row.id,
  userId: row.user_id,
  role: row.role,
  studyId: row.study_id,
  grantedBy: row.granted_by,
  createdAt: row.created_at,
});

export function grantsOfUser(db: SqliteDatabase, userId: string): GrantRow[] {
  return (statement(db, 'SELECT * FROM grants WHERE user_id = ? ORDER BY created_at, id').all(userId) as RawGrant[]).map(toGrant);
}

export function findGrant(db: SqliteDatabase, id: string): GrantRow | undefined {
  const row = statement(db, 'SELECT * FROM grants WHERE id = ?').get(id) as RawGrant | undefined;
  return row && toGrant(row);
}

export function insertGrant(db: SqliteDatabase, grant: GrantRow): void {
  statement(db, 'INSERT OR IGNORE INTO grants (id, user_id, role, study_id, granted_by, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(
    grant.id,
    grant.userId,
    grant.role,
    grant.studyId,
    grant.grantedBy,
    grant.createdAt,
  );
}

export function deleteGrant(db: SqliteDatabase, id: string): boolean {
  return statement(db, 'DELETE FROM grants WHERE id = ?').run(id).changes === 1;
}

export function insertSession(db: SqliteDatabase, session: SessionRow): void {
  statement(db, 'INSERT INTO sessions (token_hash, user_id, csrf_hash, created_at_ms, last_seen_ms) VALUES (?, ?, ?, ?, ?)').run(
    session.tokenHash,
    session.userId,
    session.csrfHash,
    session.createdAtMs,
    session.lastSeenMs,
  );
}

export function findSession(db: SqliteDatabase, tokenHash: string): SessionRow | undefined {
  const row = statement(db, 'SELECT * FROM sessions WHERE token_hash = ?').get(tokenHash) as
    | { token_hash: string; user_id: string; csrf_hash: string; created_at_ms: number; last_seen_ms: number }
    | undefined;
  return (
    row && { tokenHash: row.token_hash, userId: row.user_id, csrfHash: row.csrf_hash, createdAtMs: row.created_at_ms, lastSeenMs: row.last_seen_ms }
  );
}

export function touchSession(db: SqliteDatabase, args: { tokenHash: string; lastSeenMs: number }): void {
  statement(db, 'UPDATE sessions SET last_seen_ms = ? WHERE token_hash = ?').run(args.lastSeenMs, args.tokenHash);
}

export function deleteSession(db: SqliteDatabase, tokenHash: string): void {
  statement(db, 'DELETE FROM sessions WHERE token_hash = ?').run(tokenHash);
}

export function deleteSessionsOfUser(db: SqliteDatabase, userId: string): void {
  statement(db, 'DELETE FROM sessions WHERE user_id = ?').run(userId);
}

export function insertApiToken(db: SqliteDatabase, token: Omit<ApiTokenRow, 'revoked'>): void {
  statement(db, 'INSERT INTO api_tokens (id, token_hash, user_id, expires_at_ms) VALUES (?, ?, ?, ?)').run(
    token.id,
    token.tokenHash,
    token.userId,
    token.expiresAtMs,
  );
}

export function findApiToken(db: SqliteDatabase, tokenHash: string): ApiTokenRow | undefined {
  const row = statement(db, 'SELECT * FROM api_tokens WHERE token_hash = ?').get(tokenHash) as
    | { id: string; token_hash: string; user_id: string; expires_at_ms: number; revoked: number }
    | undefined;
  return row && { id: row.id, tokenHash: row.token_hash, userId: row.user_id, expiresAtMs: row.expires_at_ms, revoked: row.revoked === 1 };
}

/** Revokes a token only if it belongs to `userId`, so another person's token id is "not found". */
export function revokeApiToken(db: SqliteDatabase, args: { id: string; userId: string }): boolean {
  return statement(db, 'UPDATE api_tokens SET revoked = 1 WHERE id = ? AND user_id = ?').run(args.id, args.userId).changes === 1;
}
