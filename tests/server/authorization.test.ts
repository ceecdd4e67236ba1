/**
 * The authorization matrix, generated from the registered route table: every route × every
 * role × {own study, other study, no study}. A route added later is walked without editing
 * this file; its declared permission decides what the expected set is, and the policy below
 * (DESIGN.md invariant 5) decides what each declaration must mean.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomId } from '../../shared/src/crypto.ts';
import type { Role } from '../../shared/src/schemas/primitives.ts';
import { ALL_ROUTES } from '../../server/src/http/routes/index.ts';
import { buildServer } from '../../server/src/http/app.ts';
import type { AnyRoute } from '../../server/src/http/route.ts';
import type { Caller, Decision } from '../../server/src/auth/permissions.ts';
import { createWorld, type Session, type World } from './world.ts';

const ROLES = ['participant', 'researcher', 'privacy_reviewer', 'admin'] as const satisfies readonly Role[];
const SCOPES = ['own', 'other', 'none'] as const;
type Scope = (typeof SCOPES)[number];
type Who = 'anonymous' | Role;

/** What a declaration must allow, written from the policy, not from the server's code. */
function expectedAllowed(route: AnyRoute, who: Who, scope: Scope): boolean {
  const permission = route.permission;
  if (permission.kind === 'public' || permission.kind === 'device') return true;
  if (who === 'anonymous') return false;
  if (permission.kind === 'signed-in') return true;
  return permission.anyOf.some(
    (entry) =>
      entry.role === who && (entry.scope === 'anywhere' || (entry.scope === 'global' && scope === 'none') || (entry.scope === 'study' && scope === 'own')),
  );
}

function urlFor(route: AnyRoute, studyId: string): string {
  return route.url
    .replace(':studyId', studyId)
    .replace(':version', '1')
    .replace(/:[A-Za-z]+/g, () => randomId());
}

describe('the authorization matrix over every registered route', () => {
  let world: World;
  const decisions: { route: AnyRoute; decision: Decision }[] = [];
  const sessions = new Map<string, Session>();
  const people = new Map<string, { id: string; username: string }>();

  beforeAll(async () => {
    world = await createWorld({
      onDecision: (route: AnyRoute, _caller: Caller, decision: Decision) => {
        decisions.push({ route, decision });
      },
    });
    const author = world.person('author', [{ role: 'researcher', studyId: null }]);
    const reviewer = world.person('gatekeeper', [{ role: 'privacy_reviewer', studyId: null }]);
    const authorSession = await world.signIn(author);
    const reviewerSession = await world.signIn(reviewer);
    await world.openStudy('alpha', authorSession, reviewerSession);
    await world.openStudy('beta', authorSession, reviewerSession);
    for (const role of ROLES) {
      for (const scope of SCOPES) {
        const studyId = scope === 'own' ? 'alpha' : scope === 'other' ? 'beta' : null;
        const who = world.person(`${role.replace('_', '-')}-${scope}`, [{ role, studyId }]);
        people.set(`${role}/${scope}`, who);
        sessions.set(`${role}/${scope}`, await world.signIn(who));
      }
    }
  });
  afterAll(async () => {
    await world.close();
  });

  it('covers every route in the table', () => {
    expect(ALL_ROUTES.length).toBeGreaterThan(20);
  });

  for (const route of ALL_ROUTES) {
    describe(`${route.method} ${route.url}`, () => {
      for (const who of ['anonymous', ...ROLES] as const) {
        for (const scope of SCOPES) {
          const allowed = expectedAllowed(route, who, scope);
          it(`${allowed ? 'lets' : 'refuses'} ${who} with ${scope === 'none' ? 'no study' : `${scope} study`} grants`, async () => {
            const session = who === 'anonymous' ? undefined : sessions.get(`${who}/${scope}`);
            decisions.length = 0;
            const auditBefore = world.store.allAuditRows().length;
            const response = await world.as(session, route.method, urlFor(route, 'alpha'), route.method === 'GET' ? undefined : {});
            const decision = decisions.find((entry) => entry.route === route)?.decision;
            expect(decision === 'allow').toBe(allowed);
            expect(response.statusCode).toBeLessThan(500);
            if (!allowed) {
              expect(response.statusCode).toBe(who === 'anonymous' ? 401 : decision === 'hidden' ? 404 : 403);
              expect(world.store.allAuditRows().length).toBe(auditBefore);
            }
            // Sign-in and sign-out end the session they were sent with; start a new one for the next case.
            const person = people.get(`${who}/${scope}`);
            if (session && person && (await world.as(session, 'GET', '/api/v1/me')).statusCode === 401) sessions.set(`${who}/${scope}`, await world.signIn(person));
          });
        }
      }
    });
  }

  it('answers a study the caller holds no grant for exactly as it answers a study that does not exist', async () => {
    const session = sessions.get('researcher/other');
    const studyRoutes = ALL_ROUTES.filter((route) => route.url.includes(':studyId') && route.permission.kind === 'role');
    expect(studyRoutes.length).toBeGreaterThan(5);
    for (const route of studyRoutes) {
      const hidden = await world.as(session, route.method, urlFor(route, 'alpha'), route.method === 'GET' ? undefined : {});
      const missing = await world.as(sessions.get('researcher/own'), route.method, urlFor(route, 'no-such-study'), route.method === 'GET' ? undefined : {});
      if (hidden.statusCode === 404) expect(hidden.body).toBe(missing.statusCode === 404 ? missing.body : hidden.body);
      expect([403, 404]).toContain(hidden.statusCode);
    }
  });

  it('gives admins no route that returns study data or the audit log', () => {
    const dataRoutes = ALL_ROUTES.filter((route) => /releases|quarantine|audit$|\/audit\b(?!\/checkpoint)/.test(route.url));
    expect(dataRoutes.length).toBeGreaterThan(3);
    for (const route of dataRoutes) {
      for (const scope of SCOPES) expect(expectedAllowed(route, 'admin', scope), `${route.method} ${route.url}`).toBe(false);
    }
  });
});

describe('deny by default at start-up', () => {
  it('refuses to build a server when a route declares no permission', async () => {
    const world = await createWorld();
    const [first] = ALL_ROUTES;
    if (!first) throw new Error('no routes');
    const undeclared = { ...first, url: '/api/v1/undeclared', permission: undefined } as unknown as AnyRoute;
    await expect(
      buildServer({
        store: world.store,
        serverKeys: () => {
          throw new Error('unused');
        },
        rotateServerKey: () => ({ current: '', retired: [] }),
        secureCookies: false,
        routes: [...ALL_ROUTES, undeclared],
      }),
    ).rejects.toThrow(/declares no permission/);
    await world.close();
  });
});
