/** Signing in and out, API tokens, and the admin's account, role and key management. */
import { z } from 'zod';
import { randomId } from '@candor/shared/crypto';
import { RandomId, Role, Slug, UtcTimestamp } from '@candor/shared/schemas/primitives';
import { hashPassword, verifyPassword } from '../../auth/passwords.ts';
import { API_TOKEN_PREFIX, hashToken, newSecretToken, startSession } from '../../auth/sessions.ts';
import { personIdOf } from '../../auth/permissions.ts';
import { appendAudit, auditRefusal } from '../../audit/record.ts';
import type { ApiStore } from '../../db/store.ts';
import { HttpError, notFound } from '../errors.ts';
import { defineRoute } from '../route.ts';
import { Done, IdParams, Me, Password, Reason, SignIn, SignedIn, Username } from '../schemas.ts';

// Verifying against a real hash when the name is unknown keeps both answers equally slow.
const UNKNOWN_USER_HASH = await hashPassword(randomId());

const ADMIN = { kind: 'role', anyOf: [{ role: 'admin', scope: 'global' }] } as const;

export function meOf(store: ApiStore, userId: string): z.output<typeof Me> {
  const user = store.findUserById(userId);
  if (!user) throw notFound();
  return { id: user.id, username: user.username, grants: store.grantsOfUser(user.id).map(({ id, role, studyId }) => ({ id, role, studyId })) };
}


export const PEOPLE_ROUTES = [
  defineRoute({
    method: 'GET',
    url: '/api/v1/health',
    permission: { kind: 'public', reason: 'liveness probe; says nothing about data' },
    schema: { response: { 200: z.strictObject({ status: z.literal('ok') }) } },
    handler: () => ({ status: 200, body: { status: 'ok' as const } }),
  }),
  defineRoute({
    method: 'POST',
    url: '/api/v1/auth/sign-in',
    permission: { kind: 'public', reason: 'the password authenticates' },
    rateLimit: { max: 10, timeWindowMs: 60_000 },
    schema: { body: SignIn, response: { 200: SignedIn } },
    handler: async ({ body, services, cookie, caller }) => {
      const user = services.store.findUserByUsername(body.username);
      const valid = await verifyPassword(body.password, user?.passwordHash ?? UNKNOWN_USER_HASH);
      if (!user || !valid || user.disabled) throw new HttpError('auth.bad-credentials', 'wrong user name or password');
      // A new token at every sign-in; a session the browser already held is ended.
      if (caller.kind === 'person' && caller.sessionTokenHash !== null) services.store.deleteSession(caller.sessionTokenHash);
      const { token, csrfToken } = startSession(services.store, user.id, services.now().getTime());
      cookie.set(token);
      return { status: 200, body: { user: meOf(services.store, user.id), csrfToken } };
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/api/v1/auth/sign-out',
    permission: { kind: 'signed-in' },
    schema: { response: { 200: Done } },
    handler: ({ caller, services, cookie }) => {
      if (caller.kind === 'person' && caller.sessionTokenHash !== null) services.store.deleteSession(caller.sessionTokenHash);
      cookie.clear();
      return { status: 200, body: { ok: true as const } };
    },
  }),
  defineRoute({
    method: 'GET',
    url: '/api/v1/me',
    permission: { kind: 'signed-in' },
    schema: { response: { 200: Me } },
    handler: ({ caller, services }) => ({ status: 200, body: meOf(services.store, personIdOf(caller)) }),
  }),
  defineRoute({
    method: 'POST',
    url: '/api/v1/tokens',
    permission: { kind: 'signed-in' },
    schema: {
      body: z.strictObject({ expiresInDays: z.int().min(1).max(90) }),
      response: { 201: z.strictObject({ id: RandomId, token: z.string(), expiresAt: UtcTimestamp }) },
    },
    handler: ({ caller, services, body }) => {
      const id = randomId();
      const secret = newSecretToken();
      const expiresAtMs = services.now().getTime() + body.expiresInDays * 86_400_000;
      services.store.insertApiToken({ id, tokenHash: hashToken(secret), userId: personIdOf(caller), expiresAtMs });
      return { status: 201, body: { id, token: `${API_TOKEN_PREFIX}${secret}`, expiresAt: new Date(expiresAtMs).toISOString() } };
    },
  }),
  defineRoute({
    method: 'DELETE',
    url: '/api/v1/tokens/:tokenId',
    permission: { kind: 'signed-in' },
    schema: { params: IdParams('tokenId'), response: { 200: Done } },
    handler: ({ caller, services, params }) => {
      if (!services.store.revokeApiToken({ id: String(params.tokenId), userId: personIdOf(caller) })) throw notFound();
      return { status: 200, body: { ok: true as const } };
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/api/v1/admin/users',
    permission: ADMIN,
    schema: { body: z.strictObject({ username: Username, password: Password }), response: { 201: z.strictObject({ id: RandomId }) } },
    handler: async ({ caller, services, body }) => {
      if (services.store.findUserByUsername(body.username)) throw new HttpError('conflict', 'that user name is taken');
      const id = randomId();
      const passwordHash = await hashPassword(body.password);
      const at = services.now();
      services.store.transaction(() => {
        services.store.insertUser({ id, username: body.username, passwordHash, createdAt: at.toISOString(), createdBy: personIdOf(caller) });
        appendAudit(services.store, { actor: personIdOf(caller), action: 'user.create', studyId: null, target: id, reason: 'account created', outcome: 'done' }, at);
      });
      return { status: 201, body: { id } };
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/api/v1/admin/users/:userId/disable',
    permission: ADMIN,
    schema: { params: IdParams('userId'), body: z.strictObject({ reason: Reason }), response: { 200: Done } },
    handler: ({ caller, services, params, body }) => {
      const userId = String(params.userId);
      const at = services.now();
      services.store.transaction(() => {
        if (!services.store.setUserDisabled({ id: userId, disabled: true })) throw notFound();
        services.store.deleteSessionsOfUser(userId);
        appendAudit(services.store, { actor: personIdOf(caller), action: 'user.disable', studyId: null, target: userId, reason: body.reason, outcome: 'done' }, at);
      });
      return { status: 200, body: { ok: true as const } };
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/api/v1/admin/grants',
    permission: ADMIN,
    schema: {
      body: z.strictObject({ userId: RandomId, role: Role, studyId: Slug.nullable(), reason: Reason }),
      response: { 201: z.strictObject({ id: RandomId }) },
    },
    handler: ({ caller, services, body }) => {
      const actor = personIdOf(caller);
      const at = services.now();
      const target = `${body.userId}:${body.role}:${body.studyId ?? '*'}`;
      if (body.userId === actor) {
        auditRefusal(services.store, { actor, action: 'role.grant', studyId: body.studyId, target, reason: body.reason }, at);
        throw new HttpError('auth.self-grant', 'nobody grants themselves a role');
      }
      const grantee = services.store.findUserById(body.userId);
      if (!grantee) throw notFound();
      // Two people, not one: the admin who created an account (and chose its first password) cannot also give it roles.
      if (grantee.createdBy === actor) {
        auditRefusal(services.store, { actor, action: 'role.grant', studyId: body.studyId, target, reason: body.reason }, at);
        throw new HttpError('auth.self-grant', 'the admin who created an account cannot grant it roles');
      }
      if (body.studyId !== null && !services.store.findStudy(body.studyId)) throw notFound();
      const id = randomId();
      services.store.transaction(() => {
        services.store.insertGrant({ id, userId: body.userId, role: body.role, studyId: body.studyId, grantedBy: actor, createdAt: at.toISOString() });
        appendAudit(services.store, { actor, action: 'role.grant', studyId: body.studyId, target, reason: body.reason, outcome: 'done' }, at);
      });
      return { status: 201, body: { id } };
    },
  }),
  defineRoute({
    method: 'DELETE',
    url: '/api/v1/admin/grants/:grantId',
    permission: ADMIN,
    schema: { params: IdParams('grantId'), response: { 200: Done } },
    handler: ({ caller, services, params }) => {
      const actor = personIdOf(caller);
      const at = services.now();
      services.store.transaction(() => {
        const grant = services.store.findGrant(String(params.grantId));
        if (!grant || !services.store.deleteGrant(grant.id)) throw notFound();
        appendAudit(
          services.store,
          { actor, action: 'role.revoke', studyId: grant.studyId, target: `${grant.userId}:${grant.role}`, reason: 'grant removed', outcome: 'done' },
          at,
        );
      });
      return { status: 200, body: { ok: true as const } };
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/api/v1/admin/keys/rotate',
    permission: ADMIN,
    schema: { body: z.strictObject({ reason: Reason }), response: { 200: z.strictObject({ current: z.string(), retired: z.array(z.string()) }) } },
    handler: ({ caller, services, body }) => {
      const at = services.now();
      const result = services.store.transaction(() => {
        // Audited first: if the entry cannot be written the key is not rotated.
        appendAudit(services.store, { actor: personIdOf(caller), action: 'keys.rotate', studyId: null, target: 'server-signing-key', reason: body.reason, outcome: 'done' }, at);
        return services.rotateServerKey();
      });
      return { status: 200, body: result };
    },
  }),
];
