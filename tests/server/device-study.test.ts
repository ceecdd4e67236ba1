/**
 * `POST /api/v1/devices/study`: a paired device asks which version of its study is current.
 * Only a request signed by that device's key, dated within minutes, for its own study, is
 * answered; the answer repeats the request's nonce and is signed by the server key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignedStudyAnswer, signStudyCheck, studyAnswerVerifies, type SignedStudyCheck } from '@candor/shared/consent';
import { generateSigningKeyPair, randomId } from '@candor/shared/crypto';
import { loadOrCreateServerKeys } from '../../server/src/keys/files.ts';
import { createWorld, studyInput, type Device, type Session, type World } from './world.ts';

const URL = '/api/v1/devices/study';

describe('asking the server for the current study version', () => {
  let world: World;
  let device: Device;
  let researcher: Session;
  let reviewer: Session;

  beforeAll(async () => {
    world = await createWorld();
    researcher = await world.signIn(world.person('rita', [{ role: 'researcher', studyId: null }]));
    reviewer = await world.signIn(world.person('rowan', [{ role: 'privacy_reviewer', studyId: null }]));
    await world.openStudy('alpha', researcher, reviewer);
    await world.openStudy('beta', researcher, reviewer);
    const participant = await world.signIn(world.person('pat', [{ role: 'participant', studyId: null }]));
    device = await world.enrollDevice('alpha', participant);
  });
  afterAll(async () => {
    await world.close();
  });

  const request = (change: Partial<SignedStudyCheck['request']> = {}) => ({
    deviceKeyId: device.pair.keyId,
    studyId: 'alpha',
    requestedAt: new Date().toISOString(),
    nonce: randomId(),
    ...change,
  });

  it('answers the device with the current version and sealing key, repeating its nonce, signed by the server key', async () => {
    const signed = signStudyCheck(request(), device.pair);
    const response = await world.as(undefined, 'POST', URL, signed);
    expect(response.statusCode, response.body).toBe(200);
    const body = SignedStudyAnswer.parse(response.json());
    expect(body.answer).toMatchObject({ nonce: signed.request.nonce, studyId: 'alpha', study: { version: 1 }, aggregatorKey: { keyId: device.aggregatorKeyId } });
    const serverKey = loadOrCreateServerKeys(world.serverKeyFile).current;
    expect(studyAnswerVerifies(body, serverKey.publicKey)).toBe(true);
    expect(studyAnswerVerifies({ ...body, answer: { ...body.answer, study: { ...body.answer.study, version: 2 } } }, serverKey.publicKey)).toBe(false);
  });

  it('answers with a newer version once it is approved', async () => {
    expect((await world.as(researcher, 'POST', '/api/v1/studies/alpha/versions', { ...studyInput('alpha', 2), title: 'Alpha, narrower' })).statusCode).toBe(201);
    expect((await world.as(researcher, 'POST', '/api/v1/studies/alpha/versions/2/submit')).statusCode).toBe(200);
    // Drafted and submitted is not yet current.
    expect((await world.as(undefined, 'POST', URL, signStudyCheck(request(), device.pair))).json<{ answer: { study: { version: number } } }>().answer.study.version).toBe(1);
    expect((await world.as(reviewer, 'POST', '/api/v1/studies/alpha/versions/2/approve', { reason: 'reviewed' })).statusCode).toBe(200);
    const answer = (await world.as(undefined, 'POST', URL, signStudyCheck(request(), device.pair))).json<{ answer: { study: { version: number; title: string } } }>().answer;
    expect(answer.study).toMatchObject({ version: 2, title: 'Alpha, narrower' });
  });

  const stranger = generateSigningKeyPair();
  it.each<[string, () => unknown, number]>([
    ['signed by another key than the one it names', () => ({ ...signStudyCheck(request({ deviceKeyId: device.pair.keyId }), stranger), request: request() }), 403],
    ['from a key no device paired', () => signStudyCheck(request({ deviceKeyId: stranger.keyId }), stranger), 403],
    ['changed after it was signed', () => ({ ...signStudyCheck(request(), device.pair), request: request({ nonce: randomId() }) }), 403],
    ['dated ten minutes ago', () => signStudyCheck(request({ requestedAt: new Date(Date.now() - 10 * 60_000).toISOString() }), device.pair), 403],
    ['dated ten minutes ahead', () => signStudyCheck(request({ requestedAt: new Date(Date.now() + 10 * 60_000).toISOString() }), device.pair), 403],
    ['about a study the device is not paired for', () => signStudyCheck(request({ studyId: 'beta' }), device.pair), 404],
    ['with a field outside the schema', () => ({ ...signStudyCheck(request(), device.pair), extra: true }), 400],
  ])('refuses a request %s', async (_, body, status) => {
    const response = await world.as(undefined, 'POST', URL, body());
    expect(response.statusCode, response.body).toBe(status);
    expect(response.body).not.toContain('"study"');
  });
});
