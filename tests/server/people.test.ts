/** Sessions, CSRF, tokens, separation of duties and IDOR attempts, all against the real server in-process. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorld, studyInput, type Person, type Session, type World } from './world.ts';

let world: World;
let admin: Person;
let adminSession: Session;
let researcherA: Session;
let researcherB: Session;
let reviewer: Session;

beforeAll(async () => {
  world = await createWorld();
  admin = world.person('ada', [{ role: 'admin', studyId: null }]);
  adminSession = await world.signIn(admin);
  const a = world.person('alice', [{ role: 'researcher', studyId: null }]);
  const b = world.person('bob', [{ role: 'researcher', studyId: null }]);
  researcherA = await world.signIn(a);
  researcherB = await world.signIn(b);
  reviewer = await world.signIn(world.person('rev', [{ role: 'privacy_reviewer', studyId: null }]));
  await world.openStudy('study-a', researcherA, reviewer);
  await world.openStudy('study-b', researcherB, reviewer);
});
afterAll(async () => {
  await world.close();
});

describe('session cookies', () => {
  it('are HttpOnly and SameSite=Strict, and a new token is issued at every sign-in', async () => {
    const first = await world.app.inject({ method: 'POST', url: '/api/v1/auth/sign-in', payload: { username: 'alice', password: 'correct horse battery staple' } });
    const second = await world.app.inject({ method: 'POST', url: '/api/v1/auth/sign-in', payload: { username: 'alice', password: 'correct horse battery staple' } });
    const cookie = first.cookies.find((c) => c.name === 'candor_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/api/v1' });
    expect(cookie?.value).not.toBe(second.cookies.find((c) => c.name === 'candor_session')?.value);
    expect(cookie?.value.length).toBeGreaterThanOrEqual(43);
  });

  it('are stored only as hashes', () => {
    const raw = world.store.findSession(researcherA.cookie);
    expect(raw).toBeUndefined();
  });

  it('refuse a cookie-authenticated state change without the CSRF token, and change nothing', async () => {
    const before = world.store.listStudyVersions('study-a').length;
    const response = await world.app.inject({
      method: 'POST',
      url: '/api/v1/studies/study-a/versions',
      headers: { cookie: `candor_session=${researcherA.cookie}`, 'content-type': 'application/json' },
      payload: JSON.stringify(studyInput('study-a', 2)),
    });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toEqual({ error: { code: 'auth.csrf', message: 'missing or wrong CSRF token' } });
    expect(world.store.listStudyVersions('study-a').length).toBe(before);
  });

  it('stop working on the next request once the account is disabled', async () => {
    const person = world.person('dora', [{ role: 'researcher', studyId: null }]);
    const session = await world.signIn(person);
    expect((await world.as(session, 'GET', '/api/v1/me')).statusCode).toBe(200);
    expect((await world.as(adminSession, 'POST', `/api/v1/admin/users/${person.id}/disable`, { reason: 'left the company' })).statusCode).toBe(200);
    expect((await world.as(session, 'GET', '/api/v1/me')).statusCode).toBe(401);
  });

  it('lose a removed role on the next request', async () => {
    const person = world.person('eve', []);
    const grant = await world.as(adminSession, 'POST', '/api/v1/admin/grants', { userId: person.id, role: 'privacy_reviewer', studyId: null, reason: 'joins review' });
    expect(grant.statusCode).toBe(201);
    const session = await world.signIn(person);
    expect((await world.as(session, 'GET', '/api/v1/audit')).statusCode).toBe(200);
    const grantId = grant.json<{ id: string }>().id;
    expect((await world.as(adminSession, 'DELETE', `/api/v1/admin/grants/${grantId}`)).statusCode).toBe(200);
    expect((await world.as(session, 'GET', '/api/v1/audit')).statusCode).toBe(403);
  });
});

describe('API tokens', () => {
  it('authenticate until revoked, and another person cannot revoke them', async () => {
    const created = await world.as(researcherA, 'POST', '/api/v1/tokens', { expiresInDays: 7 });
    expect(created.statusCode).toBe(201);
    const { id, token } = created.json<{ id: string; token: string }>();
    const withToken = () => world.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${token}` } });
    expect((await withToken()).json<{ username: string }>().username).toBe('alice');
    expect((await world.as(researcherB, 'DELETE', `/api/v1/tokens/${id}`)).statusCode).toBe(404);
    expect((await withToken()).statusCode).toBe(200);
    expect((await world.as(researcherA, 'DELETE', `/api/v1/tokens/${id}`)).statusCode).toBe(200);
    expect((await withToken()).statusCode).toBe(401);
  });
});

describe('separation of duties', () => {
  it('refuses a researcher of study A every route of study B with the 404 of a missing study, changing nothing', async () => {
    const before = JSON.stringify(world.store.listStudyVersions('study-b'));
    for (const [method, url, body] of [
      ['GET', '/api/v1/studies/study-b', undefined],
      ['POST', '/api/v1/studies/study-b/versions', studyInput('study-b', 2)],
      ['POST', '/api/v1/studies/study-b/versions/1/submit', undefined],
      ['POST', '/api/v1/studies/study-b/close', undefined],
      ['POST', '/api/v1/studies/study-b/releases', { reason: 'curious' }],
      ['GET', '/api/v1/studies/study-b/releases', undefined],
    ] as const) {
      const response = await world.as(researcherA, method, url, body);
      expect(response.statusCode, `${method} ${url}`).toBe(404);
      expect(response.json()).toEqual({ error: { code: 'not-found', message: 'no such object' } });
    }
    expect(JSON.stringify(world.store.listStudyVersions('study-b'))).toBe(before);
    expect(world.store.findStudy('study-b')?.status).toBe('open');
  });

  it('gives admins no study data', async () => {
    for (const url of ['/api/v1/studies/study-a', '/api/v1/studies/study-a/releases', '/api/v1/studies/study-a/quarantine', '/api/v1/audit']) {
      expect((await world.as(adminSession, 'GET', url)).statusCode, url).toBe(403);
    }
    expect((await world.as(adminSession, 'POST', '/api/v1/studies/study-a/releases', { reason: 'curious' })).statusCode).toBe(403);
  });

  it('refuses a reviewer who approves a study they wrote, and audits the attempt', async () => {
    const dual = world.person('duo', [
      { role: 'researcher', studyId: null },
      { role: 'privacy_reviewer', studyId: null },
    ]);
    const session = await world.signIn(dual);
    expect((await world.as(session, 'POST', '/api/v1/studies', studyInput('self-made'))).statusCode).toBe(201);
    expect((await world.as(session, 'POST', '/api/v1/studies/self-made/versions/1/submit')).statusCode).toBe(200);
    const response = await world.as(session, 'POST', '/api/v1/studies/self-made/versions/1/approve', { reason: 'looks fine to me' });
    expect(response.statusCode).toBe(403);
    expect(response.json<{ error: { code: string } }>().error.code).toBe('study.own-approval');
    expect(world.store.findStudyVersion({ studyId: 'self-made', version: 1 })?.state).toBe('in_review');
    expect(world.store.lastAuditRow()).toMatchObject({ actor: dual.id, action: 'study.approve', outcome: 'refused' });
  });

  it('refuses an admin who grants themselves a role, and audits the attempt', async () => {
    const response = await world.as(adminSession, 'POST', '/api/v1/admin/grants', { userId: admin.id, role: 'researcher', studyId: 'study-a', reason: 'just a peek' });
    expect(response.statusCode).toBe(403);
    expect(world.store.grantsOfUser(admin.id).map((grant) => grant.role)).toEqual(['admin']);
    expect(world.store.lastAuditRow()).toMatchObject({ actor: admin.id, action: 'role.grant', outcome: 'refused' });
  });

  it('refuses an admin who grants roles to an account they created, while a second admin may', async () => {
    const created = await world.as(adminSession, 'POST', '/api/v1/admin/users', { username: 'sock-puppet', password: 'a long enough password' });
    expect(created.statusCode).toBe(201);
    const userId = created.json<{ id: string }>().id;
    const grant = { userId, role: 'researcher', studyId: 'study-a', reason: 'needs access' };
    expect((await world.as(adminSession, 'POST', '/api/v1/admin/grants', grant)).statusCode).toBe(403);
    expect(world.store.grantsOfUser(userId)).toEqual([]);
    expect(world.store.lastAuditRow()).toMatchObject({ actor: admin.id, action: 'role.grant', outcome: 'refused' });
    const second = await world.signIn(world.person('ada2', [{ role: 'admin', studyId: null }]));
    expect((await world.as(second, 'POST', '/api/v1/admin/grants', grant)).statusCode).toBe(201);
  });

  it('records a release in the audit log before returning it', async () => {
    const before = world.store.allAuditRows().length;
    const response = await world.as(researcherA, 'POST', '/api/v1/studies/study-a/releases', { reason: 'weekly report' });
    expect(response.statusCode).toBe(201);
    expect(world.store.allAuditRows().length).toBe(before + 1);
    expect(world.store.lastAuditRow()).toMatchObject({ action: 'data.release', studyId: 'study-a', reason: 'weekly report' });
  });
});

describe('IDOR attempts on id-bearing routes', () => {
  it('cannot disable or re-grant through ids outside the caller reach', async () => {
    const randomUser = 'AAAAAAAAAAAAAAAAAAAAAA';
    expect((await world.as(adminSession, 'POST', `/api/v1/admin/users/${randomUser}/disable`, { reason: 'guessing ids' })).statusCode).toBe(404);
    expect((await world.as(adminSession, 'DELETE', `/api/v1/admin/grants/${randomUser}`)).statusCode).toBe(404);
    expect((await world.as(researcherA, 'POST', `/api/v1/admin/users/${randomUser}/disable`, { reason: 'guessing ids' })).statusCode).toBe(403);
  });

  it('cannot approve, submit or open a version through a study id the caller does not hold', async () => {
    const response = await world.as(researcherB, 'POST', '/api/v1/studies/study-a/versions/1/submit');
    expect(response.statusCode).toBe(404);
    const pairing = await world.as(researcherB, 'POST', '/api/v1/studies/study-a/pairing-codes');
    expect(pairing.statusCode).toBe(403);
  });
});
