/**
 * Ingest refusals: each a clear 4xx, nothing stored, and the server keeps serving. Content
 * outside the consented scope cannot be seen by the API server, so it is the aggregator that
 * refuses it: quarantined for reviewers, never turned into participant rows.
 */
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKeyPair, generateSealingKeyPair, sealEnvelope, toBase64Url } from '../../shared/src/crypto.ts';
import { utf8 } from '../../shared/src/encoding.ts';
import type { SealedEnvelope } from '../../shared/src/schemas/envelope.ts';
import { createWorld, keyboardWindow, studyInput, type Device, type Session, type World } from './world.ts';

let world: World;
let reviewer: Session;
let good: Device;
let other: Device;
let unconsented: Device;
let expired: Device;
let withdrawn: Device;
let narrow: Device;

const batchOf = (studyId: string) => ({ windows: [keyboardWindow(studyId, 30)] });

beforeAll(async () => {
  world = await createWorld();
  const researcher = await world.signIn(world.person('rita', [{ role: 'researcher', studyId: null }]));
  reviewer = await world.signIn(world.person('rowan', [{ role: 'privacy_reviewer', studyId: null }]));
  await world.openStudy('ingest-a', researcher, reviewer);
  await world.openStudy('ingest-b', researcher, reviewer);
  // A study that asks for keyboard activity only.
  const narrowStudy = { ...studyInput('narrow'), signals: ['keyboard-activity' as const], vocabularyApps: [], shortcuts: [] };
  expect((await world.as(researcher, 'POST', '/api/v1/studies', narrowStudy)).statusCode).toBe(201);
  await world.as(researcher, 'POST', '/api/v1/studies/narrow/versions/1/submit');
  await world.as(reviewer, 'POST', '/api/v1/studies/narrow/versions/1/approve', { reason: 'narrow scope' });
  await world.as(researcher, 'POST', '/api/v1/studies/narrow/open');
  world.aggregator.runOnce();
  const participant = async (name: string, studyId: string) =>
    world.enrollDevice(studyId, await world.signIn(world.person(name, [{ role: 'participant', studyId: null }])));
  good = await participant('pat', 'ingest-a');
  other = await participant('quinn', 'ingest-b');
  unconsented = await participant('uma', 'ingest-a');
  expired = await participant('eli', 'ingest-a');
  withdrawn = await participant('wes', 'ingest-a');
  narrow = await participant('nia', 'narrow');
  expect(await world.consent(good)).toBe(201);
  expect(await world.consent(other)).toBe(201);
  expect(await world.consent(expired, 'given', '2026-01-01T00:00:00.000Z')).toBe(201);
  expect(await world.consent(withdrawn)).toBe(201);
  expect(await world.consent(withdrawn, 'withdrawn')).toBe(201);
  expect(await world.consent(narrow)).toBe(201);
});
afterAll(async () => {
  await world.close();
});

const post = (body: unknown, headers: Record<string, string> = {}) =>
  world.app.inject({ method: 'POST', url: '/api/v1/ingest', headers: { 'content-type': 'application/json', ...headers }, payload: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) });

function flipLast(text: string): string {
  return text.slice(0, -2) + (text.at(-2) === 'A' ? 'B' : 'A') + text.slice(-1);
}

describe('ingest refuses', () => {
  const cases: [string, () => { body: unknown; headers?: Record<string, string> }, number, string][] = [
    ['a bad signature', () => ({ body: { ...world.seal(good, batchOf('ingest-a')), signature: flipLast(world.seal(good, batchOf('ingest-a')).signature) } }), 401, 'ingest.bad-signature'],
    ['altered ciphertext', () => { const e = world.seal(good, batchOf('ingest-a')); return { body: { ...e, ciphertext: flipLast(e.ciphertext) } }; }, 401, 'ingest.bad-signature'],
    ['a header edited after signing', () => { const e = world.seal(good, batchOf('ingest-a')); return { body: { ...e, header: { ...e.header, studyId: 'ingest-b' } } }; }, 401, 'ingest.bad-signature'],
    ['an unknown device', () => ({ body: world.seal({ ...good, pair: generateSigningKeyPair() }, batchOf('ingest-a')) }), 403, 'ingest.unknown-device'],
    ['a device without consent', () => ({ body: world.seal(unconsented, batchOf('ingest-a')) }), 403, 'ingest.no-consent'],
    ['an expired consent', () => ({ body: world.seal(expired, batchOf('ingest-a')) }), 403, 'ingest.no-consent'],
    ['a withdrawn consent', () => ({ body: world.seal(withdrawn, batchOf('ingest-a')) }), 403, 'ingest.no-consent'],
    ['an envelope a device addresses to a study it is not enrolled in', () => ({ body: world.seal(good, batchOf('ingest-b'), { studyId: 'ingest-b' }) }), 409, 'ingest.batch-conflict'],
    [
      'an envelope sealed to a key that is not the study key',
      () => ({
        body: sealEnvelope(utf8('{}'), { studyId: 'ingest-a', studyVersion: 1, batchId: 'f'.repeat(64), createdAt: new Date().toISOString() }, good.pair, generateSealingKeyPair().publicKey),
      }),
      400,
      'ingest.wrong-recipient',
    ],
    ['an extra field in the envelope', () => ({ body: { ...world.seal(good, batchOf('ingest-a')), note: 'hi' } }), 400, 'validation'],
    ['an oversized body', () => ({ body: { ...world.seal(good, batchOf('ingest-a')), ciphertext: 'A'.repeat(600 * 1024) } }), 413, 'request.too-large'],
    ['a deeply nested body', () => ({ body: `{"header":${'['.repeat(20_000)}${']'.repeat(20_000)}}` }), 400, 'validation'],
    ['malformed JSON', () => ({ body: '{"header": ' }), 400, 'request.malformed'],
    ['a compressed body', () => ({ body: gzipSync(JSON.stringify(world.seal(good, batchOf('ingest-a')))), headers: { 'content-encoding': 'gzip' } }), 415, 'request.unsupported-encoding'],
  ];

  for (const [what, make, status, code] of cases) {
    it(`${what} with ${status} ${code}, stores nothing and keeps serving`, async () => {
      const before = world.store.countEnvelopes();
      const { body, headers } = make();
      const response = await post(body, headers);
      expect(response.statusCode).toBe(status);
      expect(response.json<{ error: { code: string } }>().error.code).toBe(code);
      expect(response.body).not.toMatch(/at .*\.ts:\d+/);
      expect(world.store.countEnvelopes()).toBe(before);
      expect((await post(world.seal(good, batchOf('ingest-a')))).statusCode).toBe(201);
    });
  }

  it('a batch id already held for another device and study, as a replay', async () => {
    const original = world.seal(good, batchOf('ingest-a'));
    expect((await post(original)).statusCode).toBe(201);
    const replay = world.seal(other, batchOf('ingest-b'), { batchId: original.header.batchId });
    const before = world.store.countEnvelopes();
    const response = await post(replay);
    expect(response.statusCode).toBe(409);
    expect(world.store.countEnvelopes()).toBe(before);
  });
});

describe('ingest authenticates by signature alone', () => {
  it('stores a good envelope sent with a session cookie and no CSRF token, since no session is consulted', async () => {
    const envelope = world.seal(good, batchOf('ingest-a'));
    const response = await post(envelope, { cookie: `candor_session=${reviewer.cookie}` });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toEqual({ batchId: envelope.header.batchId, status: 'stored' });
  });

  it('refuses a forged envelope even from a signed-in session with its CSRF token', async () => {
    const envelope = world.seal(good, batchOf('ingest-a'));
    const forged = { ...envelope, signature: flipLast(envelope.signature) };
    const response = await post(forged, { cookie: `candor_session=${reviewer.cookie}`, 'x-csrf-token': reviewer.csrf });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ error: { code: 'ingest.bad-signature' } });
    expect(world.store.findEnvelopeOwner(envelope.header.batchId)).toBeUndefined();
  });
});

describe('the aggregator against the consented scope', () => {
  beforeAll(() => {
    world.aggregator.runOnce();
  });
  const narrowRows = () => {
    const db = new Database(world.files.aggregatorDb, { readonly: true });
    const count = db.prepare("SELECT count(*) FROM participant_rows WHERE study_id = 'narrow'").pluck().get();
    db.close();
    return count;
  };

  async function sendNarrow(windows: unknown[]): Promise<SealedEnvelope> {
    const envelope = world.seal(narrow, { windows } as never);
    expect((await post(envelope)).statusCode).toBe(201);
    return envelope;
  }

  it('quarantines a batch with a signal outside the scope, keeps no row of it, and shows reviewers why', async () => {
    const mouse = { ...keyboardWindow('narrow', 1), aggregate: { signal: 'mouse-activity', clicks: { left: 1, right: 0, middle: 0, other: 0 }, scrollTicks: 0, distance: [0, 0, 0, 0, 0, 0, 0], speed: [0, 0, 0, 0, 0, 0] } };
    const envelope = await sendNarrow([mouse]);
    expect(world.aggregator.runOnce()).toMatchObject({ quarantined: 1, accepted: 0 });
    const response = await world.as(reviewer, 'GET', '/api/v1/studies/narrow/quarantine');
    const entry = response.json<{ entries: { batchId: string; reasons: string[] }[] }>().entries.find((e) => e.batchId === envelope.header.batchId);
    expect(entry?.reasons.join(' ')).toMatch(/outside the consented scope/);
    expect(narrowRows()).toBe(0);
  });

  it('quarantines a batch with an extra field rather than dropping the field', async () => {
    const envelope = await sendNarrow([{ ...keyboardWindow('narrow', 3), windowTitle: 'secret plans.docx' }]);
    expect(world.aggregator.runOnce()).toMatchObject({ quarantined: 1, accepted: 0 });
    const entries = (await world.as(reviewer, 'GET', '/api/v1/studies/narrow/quarantine')).json<{ entries: { batchId: string; reasons: string[] }[] }>().entries;
    const entry = entries.find((e) => e.batchId === envelope.header.batchId);
    expect(entry?.reasons.join(' ')).toMatch(/unknown key/);
    expect(JSON.stringify(entries)).not.toContain('secret plans');
  });

  it('accepts a batch inside the scope', async () => {
    await sendNarrow([keyboardWindow('narrow', 5)]);
    expect(world.aggregator.runOnce()).toMatchObject({ quarantined: 0, accepted: 1 });
    expect(narrowRows()).toBe(1);
  });
});

describe('malformed requests anywhere', () => {
  it('never answer 5xx or a stack trace', async () => {
    const bodies = ['', 'null', '[]', '"x"', '{"__proto__":{"a":1}}', '{"constructor":{"prototype":{}}}', '\u0000', '{"a":1e999}', toBase64Url(new Uint8Array(64))];
    for (const route of ['/api/v1/ingest', '/api/v1/erasure', '/api/v1/auth/sign-in', '/api/v1/devices/pair', '/api/v1/consent-receipts']) {
      for (const body of bodies) {
        const response = await world.app.inject({ method: 'POST', url: route, headers: { 'content-type': 'application/json' }, payload: body });
        expect(response.statusCode, `${route} ${JSON.stringify(body)}`).toBeGreaterThanOrEqual(400);
        expect(response.statusCode, `${route} ${JSON.stringify(body)}`).toBeLessThan(500);
        expect(response.body).not.toMatch(/\.ts:\d+|node_modules/);
      }
    }
  });
});

describe('fuzzed bodies on every state-changing route', () => {
  it('never answer 5xx, whoever sends them', async () => {
    const fc = await import('fast-check');
    const everything = await world.signIn(
      world.person('omni', [
        { role: 'researcher', studyId: 'ingest-a' },
        { role: 'participant', studyId: 'ingest-a' },
        { role: 'privacy_reviewer', studyId: null },
        { role: 'admin', studyId: null },
      ]),
    );
    const { ALL_ROUTES } = await import('../../server/src/http/routes/index.ts');
    const routes = ALL_ROUTES.filter((route) => route.method === 'POST' && !route.url.includes('sign-'));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fc.jsonValue({ maxDepth: 6 }), async (route, body) => {
        const url = route.url.replace(':studyId', 'ingest-a').replace(':version', '1').replace(/:[A-Za-z]+/g, 'AAAAAAAAAAAAAAAAAAAAAA');
        const response = await world.as(everything, 'POST', url, body);
        expect(response.statusCode).toBeLessThan(500);
      }),
      { numRuns: 300 },
    );
  });
});
