/**
 * Group commit: envelopes checked in the same event-loop turn share one transaction, and each
 * request is answered only once that transaction has committed. Idempotency on the batch id
 * holds inside a group, and one refusal in a group does not undo the others.
 */
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptEnvelope } from '../../server/src/ingest/accept.ts';
import { createWorld, keyboardWindow, type Device, type World } from './world.ts';

let world: World;
let first: Device;
let second: Device;
let leaving: Device;

const batch = (studyId: string) => ({ windows: [keyboardWindow(studyId, 12)] });

beforeAll(async () => {
  world = await createWorld();
  const researcher = await world.signIn(world.person('rita', [{ role: 'researcher', studyId: null }]));
  const reviewer = await world.signIn(world.person('rowan', [{ role: 'privacy_reviewer', studyId: null }]));
  await world.openStudy('group-a', researcher, reviewer);
  await world.openStudy('group-b', researcher, reviewer);
  world.aggregator.runOnce();
  first = await world.enrollDevice('group-a', await world.signIn(world.person('pat', [{ role: 'participant', studyId: null }])));
  second = await world.enrollDevice('group-b', await world.signIn(world.person('quinn', [{ role: 'participant', studyId: null }])));
  expect(await world.consent(first)).toBe(201);
  expect(await world.consent(second)).toBe(201);
  leaving = await world.enrollDevice('group-a', await world.signIn(world.person('lee', [{ role: 'participant', studyId: null }])));
  expect(await world.consent(leaving)).toBe(201);
});
afterAll(async () => {
  await world.close();
});

/** Rows as another connection sees them: only what has been committed. */
function committedRows(batchId: string): number {
  const db = new Database(world.files.apiDb, { readonly: true });
  try {
    return db.prepare('SELECT count(*) FROM envelopes WHERE batch_id = ?').pluck().get(batchId) as number;
  } finally {
    db.close();
  }
}

const post = (body: unknown) =>
  world.app.inject({ method: 'POST', url: '/api/v1/ingest', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });

describe('ingest group commit', () => {
  it('answers a batch only after the transaction holding it has committed', async () => {
    const envelope = world.seal(first, batch('group-a'));
    const answer = acceptEnvelope(world.store, envelope, new Date());
    expect(committedRows(envelope.header.batchId)).toBe(0);
    expect(await answer).toEqual({ status: 201, body: { batchId: envelope.header.batchId, status: 'stored' } });
    expect(committedRows(envelope.header.batchId)).toBe(1);
  });

  it('stores two copies of one batch in the same group once, answering stored then duplicate', async () => {
    const envelope = world.seal(first, batch('group-a'));
    const answers = await Promise.all([acceptEnvelope(world.store, envelope, new Date()), acceptEnvelope(world.store, envelope, new Date())]);
    expect(answers.map((answer) => [answer.status, answer.body.status])).toEqual([
      [201, 'stored'],
      [200, 'duplicate'],
    ]);
    expect(committedRows(envelope.header.batchId)).toBe(1);
  });

  it('refuses a batch id held by another device in the same group and still stores the rest of the group', async () => {
    const original = world.seal(first, batch('group-a'));
    const replay = world.seal(second, batch('group-b'), { batchId: original.header.batchId });
    const unrelated = world.seal(second, batch('group-b'));
    const settled = await Promise.allSettled([
      acceptEnvelope(world.store, original, new Date()),
      acceptEnvelope(world.store, replay, new Date()),
      acceptEnvelope(world.store, unrelated, new Date()),
    ]);
    expect(settled.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(settled[1].status === 'rejected' && (settled[1].reason as { code: string }).code).toBe('ingest.batch-conflict');
    expect(committedRows(original.header.batchId)).toBe(1);
    expect(committedRows(unrelated.header.batchId)).toBe(1);
    const stored = world.store.findEnvelopeOwner(original.header.batchId);
    expect(stored?.deviceKeyId).toBe(first.pair.keyId);
  });

  it('answers concurrent HTTP copies of one batch with one 201 and the rest 200, storing one row', async () => {
    const envelope = world.seal(first, batch('group-a'));
    const responses = await Promise.all(Array.from({ length: 4 }, () => post(envelope)));
    expect(responses.map((response) => response.statusCode).sort()).toEqual([200, 200, 200, 201]);
    expect(responses.map((response) => response.json<{ status: string }>().status).sort()).toEqual(['duplicate', 'duplicate', 'duplicate', 'stored']);
    expect(committedRows(envelope.header.batchId)).toBe(1);
  });

  it('refuses an envelope whose participant withdrew after it arrived but before its group committed, and stores nothing of it', async () => {
    const envelope = world.seal(leaving, batch('group-a'));
    const answer = acceptEnvelope(world.store, envelope, new Date());
    // The withdrawal lands in the same turn, after the request and before the group's transaction.
    world.store.insertErasureRequest({
      requestId: 'r'.repeat(22),
      studyId: 'group-a',
      deviceKeyId: leaving.pair.keyId,
      pseudonym: leaving.pseudonym,
      requestedAt: new Date().toISOString(),
    });
    await expect(answer).rejects.toMatchObject({ code: 'ingest.no-consent' });
    expect(committedRows(envelope.header.batchId)).toBe(0);
  });

  it('refuses a bad envelope at once without holding up or spoiling the group it arrived with', async () => {
    const good = world.seal(first, batch('group-a'));
    const forged = { ...world.seal(first, batch('group-a')), signature: good.signature };
    const responses = await Promise.all([post(good), post(forged)]);
    expect(responses.map((response) => response.statusCode)).toEqual([201, 401]);
    expect(committedRows(good.header.batchId)).toBe(1);
    expect(committedRows(forged.header.batchId)).toBe(0);
  });
});
