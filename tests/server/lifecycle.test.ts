/** Study versions and consent, session expiry, rate limits, headers and what reaches the logs. */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64Url } from '../../shared/src/crypto.ts';
import { verifyServerCountersignature } from '../../shared/src/consent.ts';
import type { ConsentReceipt } from '../../shared/src/schemas/consent.ts';
import { StudyVersion } from '../../shared/src/schemas/study.ts';
import { loadOrCreateServerKeys } from '../../server/src/keys/files.ts';
import { consentReceiptFor, createWorld, keyboardWindow, PASSWORD, studyInput, type World } from './world.ts';

describe('a new study version', () => {
  let world: World;
  afterAll(async () => {
    await world.close();
  });

  it('needs approval, stops uploads under it until the participant consents to it, and still takes windows held under the version before', async () => {
    world = await createWorld();
    const researcher = await world.signIn(world.person('rita', [{ role: 'researcher', studyId: null }]));
    const reviewer = await world.signIn(world.person('rowan', [{ role: 'privacy_reviewer', studyId: null }]));
    await world.openStudy('evolving', researcher, reviewer);
    const device = await world.enrollDevice('evolving', await world.signIn(world.person('pat', [{ role: 'participant', studyId: null }])));
    expect(await world.consent(device)).toBe(201);
    const ingest = (version: number) => world.as(undefined, 'POST', '/api/v1/ingest', world.seal(device, { windows: [keyboardWindow('evolving', 4, version)] }, { studyVersion: version }));
    expect((await ingest(1)).statusCode).toBe(201);

    const v2 = { ...studyInput('evolving', 2), k: 12 };
    expect((await world.as(researcher, 'POST', '/api/v1/studies/evolving/versions', v2)).statusCode).toBe(201);
    expect((await world.as(researcher, 'POST', '/api/v1/studies/evolving/versions', v2)).statusCode).toBe(409);
    // Drafted, not yet approved: uploads under version 1 continue.
    expect((await ingest(1)).statusCode).toBe(201);
    await world.as(researcher, 'POST', '/api/v1/studies/evolving/versions/2/submit');
    expect((await world.as(reviewer, 'POST', '/api/v1/studies/evolving/versions/2/approve', { reason: 'k raised' })).statusCode).toBe(200);
    expect(world.store.findStudy('evolving')?.currentVersion).toBe(2);

    const stale = await ingest(2);
    expect(stale.statusCode).toBe(403);
    expect(stale.json<{ error: { code: string } }>().error.code).toBe('ingest.no-consent');
    expect(await world.consent(device)).toBe(201);
    expect((await ingest(2)).statusCode).toBe(201);
    // Held on the device under version 1 while consent to it was in force (tests/server/study-versions.test.ts: window by window).
    expect((await ingest(1)).statusCode).toBe(201);
    const unapproved = await ingest(3);
    expect(unapproved.statusCode).toBe(403);
    expect(unapproved.json<{ error: { code: string } }>().error.code).toBe('ingest.study-not-open');
  });

  it('keeps approved versions immutable: the stored body never changes', async () => {
    const before = world.store.findStudyVersion({ studyId: 'evolving', version: 1 });
    const researcher = await world.signIn({ id: '', username: 'rita' });
    expect((await world.as(researcher, 'POST', '/api/v1/studies/evolving/versions', { ...studyInput('evolving', 1), title: 'changed' })).statusCode).toBe(409);
    expect(world.store.findStudyVersion({ studyId: 'evolving', version: 1 })).toEqual(before);
  });
});

describe('consent receipts', () => {
  it('come back countersigned by the server key, and a receipt for another scope is refused', async () => {
    const world = await createWorld();
    const researcher = await world.signIn(world.person('rita', [{ role: 'researcher', studyId: null }]));
    const reviewer = await world.signIn(world.person('rowan', [{ role: 'privacy_reviewer', studyId: null }]));
    await world.openStudy('receipts', researcher, reviewer);
    const pat = await world.signIn(world.person('pat', [{ role: 'participant', studyId: null }]));
    const device = await world.enrollDevice('receipts', pat);
    const study = StudyVersion.parse(JSON.parse(world.store.findStudyVersion({ studyId: 'receipts', version: 1 })?.body ?? '{}'));
    const response = await world.as(undefined, 'POST', '/api/v1/consent-receipts', { receipt: consentReceiptFor(device, study) });
    expect(response.statusCode).toBe(201);
    const { receipt } = response.json<{ receipt: ConsentReceipt }>();
    expect(verifyServerCountersignature(receipt, loadOrCreateServerKeys(world.serverKeyFile).current.publicKey)).toBe(true);
    const wider = consentReceiptFor(device, { ...study, signals: ['keyboard-activity'] });
    expect((await world.as(undefined, 'POST', '/api/v1/consent-receipts', { receipt: wider })).statusCode).toBe(400);
    const forged = { ...consentReceiptFor(device, study), integrity: { ...receipt.integrity, participant: { ...receipt.integrity.participant, signature: receipt.integrity.participant.signature.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }, server: null } };
    expect((await world.as(undefined, 'POST', '/api/v1/consent-receipts', { receipt: forged })).statusCode).toBe(400);
    const heldBack = consentReceiptFor(device, study, 'given', undefined, new Date(Date.now() - 3_600_000).toISOString());
    const refused = await world.as(undefined, 'POST', '/api/v1/consent-receipts', { receipt: heldBack });
    expect(refused.statusCode).toBe(400);
    expect(refused.json<{ error: { message: string } }>().error.message).toContain('older than the last');
    // The participant sees their device and the countersigned receipt; nobody else's.
    const mine = (await world.as(pat, 'GET', '/api/v1/me/participation')).json<{ devices: { deviceKeyId: string; receipts: ConsentReceipt[] }[] }>();
    expect(mine.devices.map((entry) => entry.deviceKeyId)).toEqual([device.pair.keyId]);
    expect(mine.devices[0]?.receipts.map((entry) => entry.integrity.server?.keyId)).toEqual([loadOrCreateServerKeys(world.serverKeyFile).current.keyId]);
    const other = await world.signIn(world.person('quin', [{ role: 'participant', studyId: null }]));
    expect((await world.as(other, 'GET', '/api/v1/me/participation')).json()).toEqual({ devices: [] });
    await world.close();
  });
});

describe('sessions over time', () => {
  it('end after 30 idle minutes and after 12 hours however active', async () => {
    let now = Date.parse('2026-11-23T08:00:00.000Z');
    const world = await createWorld({ now: () => new Date(now) });
    const session = await world.signIn(world.person('ida', [{ role: 'researcher', studyId: null }]));
    now += 29 * 60_000;
    expect((await world.as(session, 'GET', '/api/v1/me')).statusCode).toBe(200);
    now += 31 * 60_000;
    expect((await world.as(session, 'GET', '/api/v1/me')).statusCode).toBe(401);

    const busy = await world.signIn({ id: '', username: 'ida' });
    for (let minutes = 0; minutes < 12 * 60; minutes += 20) {
      now += 20 * 60_000;
      const status = (await world.as(busy, 'GET', '/api/v1/me')).statusCode;
      expect(status).toBe(minutes + 20 <= 12 * 60 ? 200 : 401);
    }
    now += 20 * 60_000;
    expect((await world.as(busy, 'GET', '/api/v1/me')).statusCode).toBe(401);
    await world.close();
  });
});

describe('the HTTP edge', () => {
  let world: World;
  const logLines: string[] = [];
  beforeAll(async () => {
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString());
        done();
      },
    });
    world = await createWorld({ rateLimitScale: 1, logger: { level: 'debug', stream } });
  });
  afterAll(async () => {
    await world.close();
  });

  it('rate-limits sign-in attempts', async () => {
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 12; attempt += 1) {
      statuses.push((await world.app.inject({ method: 'POST', url: '/api/v1/auth/sign-in', payload: { username: 'nobody', password: 'wrong password here' } })).statusCode);
    }
    expect(statuses.slice(0, 10).every((status) => status === 401)).toBe(true);
    expect(statuses.slice(10)).toEqual([429, 429]);
  });

  it('sends security headers on answers, refusals and unknown routes alike', async () => {
    const answers = await Promise.all([
      world.app.inject({ method: 'GET', url: '/api/v1/health' }),
      world.app.inject({ method: 'GET', url: '/api/v1/audit' }),
      world.app.inject({ method: 'GET', url: '/api/v1/no-such-route' }),
      world.app.inject({ method: 'POST', url: '/api/v1/ingest', headers: { 'content-type': 'application/json' }, payload: '{"nested":' }),
    ]);
    expect(answers.map((response) => response.statusCode)).toEqual([200, 401, 404, 400]);
    for (const response of answers) {
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['content-security-policy']).toContain("default-src 'self'");
      expect(response.headers['content-security-policy']).toContain("object-src 'none'");
      expect(response.headers['strict-transport-security']).toMatch(/^max-age=\d+; includeSubDomains$/);
      expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(response.headers['referrer-policy']).toBe('no-referrer');
      expect(response.headers['cross-origin-opener-policy']).toBe('same-origin');
      expect(response.headers['x-powered-by']).toBeUndefined();
    }
  });

  it('never logs passwords, session tokens, CSRF tokens or envelope contents', async () => {
    const person = world.person('lou', [{ role: 'researcher', studyId: null }, { role: 'privacy_reviewer', studyId: null }]);
    const signIn = await world.app.inject({ method: 'POST', url: '/api/v1/auth/sign-in', remoteAddress: '10.9.9.9', payload: { username: person.username, password: PASSWORD } });
    const cookie = signIn.cookies.find((c) => c.name === 'candor_session')?.value ?? 'missing';
    const csrf = signIn.json<{ csrfToken: string }>().csrfToken;
    await world.app.inject({ method: 'GET', url: '/api/v1/me', remoteAddress: '10.9.9.9', headers: { cookie: `candor_session=${cookie}` } });
    const envelope = { header: { v: 1 }, ciphertext: 'Q0FOQVJZLWNpcGhlcnRleHQ', signature: 'x' };
    await world.app.inject({ method: 'POST', url: '/api/v1/ingest', remoteAddress: '10.9.9.9', payload: envelope });
    const logs = logLines.join('');
    expect(logs).toContain('/api/v1/me');
    for (const secret of [PASSWORD, cookie, csrf, envelope.ciphertext]) expect(logs).not.toContain(secret);
    expect(fromBase64Url(envelope.ciphertext).length).toBeGreaterThan(0);
  });
});
