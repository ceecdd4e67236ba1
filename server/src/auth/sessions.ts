/**
 * Session cookies and API tokens. Tokens are 256-bit random values; only their BLAKE2b hash is
 * stored, so a copied database cannot be replayed as a login. Every request re-reads the
 * account and its grants, so disabling someone or removing a role counts from the next request.
 */
import { constantTimeEqual, contentHash, randomBytes, toBase64Url } from '@candor/shared/crypto';
import { utf8 } from '@candor/shared/encoding';
import type { ApiStore } from '../db/store.ts';
import type { Caller } from './permissions.ts';

export const SESSION_COOKIE = 'candor_session';
export const CSRF_HEADER = 'x-csrf-token';
export const API_TOKEN_PREFIX = 'cnd_';
export const SESSION_IDLE_MS = 30 * 60_000;
export const SESSION_ABSOLUTE_MS = 12 * 60 * 60_000;

export function newSecretToken(): string {
  return toBase64Url(randomBytes(32));
}

export function hashToken(token: string): string {
  return contentHash(`candor/token/v1\n${token}`);
}

/** Starts a fresh session (a new token at every sign-in) and returns the cookie value and CSRF token. */
export function startSession(store: ApiStore, userId: string, nowMs: number): { token: string; csrfToken: string } {
  const token = newSecretToken();
  const csrfToken = newSecretToken();
  store.insertSession({ tokenHash: hashToken(token), userId, csrfHash: hashToken(csrfToken), createdAtMs: nowMs, lastSeenMs: nowMs });
  return { token, csrfToken };
}

function personOf(store: ApiStore, userId: string, via: 'session' | 'token', sessionTokenHash: string | null): Caller {
  const user = store.findUserById(userId);
  if (!user || user.disabled) return { kind: 'anonymous' };
  return { kind: 'person', user, grants: store.grantsOfUser(user.id), via, sessionTokenHash };
}

/** Resolves a request's credentials; expired or unknown ones make an anonymous caller. */
export function authenticate(store: ApiStore, credentials: { cookie: string | undefined; authorization: string | undefined }, nowMs: number): Caller {
  const bearer = credentials.authorization?.startsWith(`Bearer ${API_TOKEN_PREFIX}`) ? credentials.authorization.slice(7 + API_TOKEN_PREFIX.length) : undefined;
  if (bearer !== undefined) {
    const token = store.findApiToken(hashToken(bearer));
    if (!token || token.revoked || token.expiresAtMs <= nowMs) return { kind: 'anonymous' };
    return personOf(store, token.userId, 'token', null);
  }
  if (credentials.cookie === undefined) return { kind: 'anonymous' };
  const tokenHash = hashToken(credentials.cookie);
  const session = store.findSession(tokenHash);
  if (!session) return { kind: 'anonymous' };
  if (nowMs - session.lastSeenMs > SESSION_IDLE_MS || nowMs - session.createdAtMs > SESSION_ABSOLUTE_MS) {
    store.deleteSession(tokenHash);
    return { kind: 'anonymous' };
  }
  store.touchSession({ tokenHash, lastSeenMs: nowMs });
  return personOf(store, session.userId, 'session', tokenHash);
}

/** Cookie-authenticated state changes must echo the session's CSRF token (compared in constant time). */
export function csrfTokenMatches(store: ApiStore, sessionTokenHash: string, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  const session = store.findSession(sessionTokenHash);
  return session !== undefined && constantTimeEqual(utf8(session.csrfHash), utf8(hashToken(presented)));
}
