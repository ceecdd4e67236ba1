/**
 * Windows captured under study version 1 and still held on the device when version 2 is
 * approved (agents hold windows for hours before upload) arrive after the participant consents
 * to version 2. The API server admits an envelope of any approved version up to the current one
 * that the device consented to; the aggregator, which alone can see when each window started,
 * keeps only windows that consent to that version covered, and quarantines the rest with the
 * reason. A real server on real SQLite and the real aggregator, pass by pass.
 */
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SealedEnvelope } from '../../shared/src/schemas/envelope.ts';
import { createWorld, keyboardWindow, studyInput, windowStartOf, type Device, type Session, type World } from './world.ts';

const STUDY = 'evolving';
const MINUTE = 60_000;
/** A 15-minute boundary six hours ago: v1 is consented to 7 minutes after it, v2 three hours later. */
const base = Date.parse(windowStartOf(Date.now() - 6 * 60 * MINUTE));
const iso = (ms: number) => new Date(ms).toISOString();
const v1ConsentAt = base + 7 * MINUTE;
const v2ConsentAt = base + (3 * 60 + 7) * MINUTE;
const window = (version: number, minutesAfterBase: number) => keyboardWindow(STUDY, 5, version, iso(base + minutesAfterBase * MINUTE));

let world: World;
let researcher: Session;
let reviewer: Session;
let pat: Device;

const participant = async (name: string) => world.enrollDevice(STUDY, await world.signIn(world.person(name, [{ role: 'participant', studyId: null }])));
const ingest = (envelope: SealedEnvelope) => world.as(undefined, 'POST', '/api/v1/ingest', envelope);
const sealV1 = (device: Device, ...minutesAfterBase: number[]) =>
  world.seal(device, { windows: minutesAfterBase.map((minutes) => window(1, minutes)) }, { studyVersion: 1 });

function rowBatches(): string[] {
  const db = new Database(world.files.aggregatorDb, { readonly: true });
  try {
    return db.prepare('SELECT batch_id FROM participant_rows WHERE study_id = ? ORDER BY id').pluck().all(STUDY) as string[];
  } finally {
    db.close();
  }
}

async function expectRefused(envelope: SealedEnvelope, code: string): Promise<void> {
  const before = world.store.countEnvelopes();
  const response = await ingest(envelope);
  expect(response.statusCode, response.body).toBe(403);
  expect(response.json<{ error: { code: string } }>().error.code).toBe(code);
  expect(world.store.countEnvelopes()).toBe(before);
}

/** Devices that consented to v1 while it was current; `validUntil` as each needs. */
const early: Record<'withdrawing' | 'lapsed' | 'expiredV1', Device | undefined> = { withdrawing: undefined, lapsed: undefined, expiredV1: undefined };

beforeAll(async () => {
  world = await createWorld();
  researcher = await world.signIn(world.person('rita', [{ role: 'researcher', studyId: null }]));
  reviewer = await world.signIn(world.person('rowan', [{ role: 'privacy_reviewer', studyId: null }]));
  await world.openStudy(STUDY, researcher, reviewer);
  pat = await participant('pat');
  expect(await world.consent(pat, 'given', undefined, iso(v1ConsentAt))).toBe(201);
  early.withdrawing = await participant('wes');
  expect(await world.consent(early.withdrawing, 'given', undefined, iso(v1ConsentAt))).toBe(201);
  // Consent to v1 that ran out an hour after it was given and was never renewed.
  early.lapsed = await participant('lee');
  expect(await world.consent(early.lapsed, 'given', iso(v1ConsentAt + 60 * MINUTE), iso(v1ConsentAt))).toBe(201);
  // The same, but renewed by consenting to v2.
  early.expiredV1 = await participant('eve');
  expect(await world.consent(early.expiredV1, 'given', iso(v1ConsentAt + 60 * MINUTE), iso(v1ConsentAt))).toBe(201);

  expect((await world.as(researcher, 'POST', `/api/v1/studies/${STUDY}/versions`, { ...studyInput(STUDY, 2), k: 12 })).statusCode).toBe(201);
  expect((await world.as(researcher, 'POST', `/api/v1/studies/${STUDY}/versions/2/submit`)).statusCode).toBe(200);
  expect((await world.as(reviewer, 'POST', `/api/v1/studies/${STUDY}/versions/2/approve`, { reason: 'k raised' })).statusCode).toBe(200);
  expect(world.store.findStudy(STUDY)?.currentVersion).toBe(2);
  world.aggregator.runOnce();
});
afterAll(async () => {
  await world.close();
});

describe('windows held under v1 when v2 is approved', () => {
  let heldBeforeReconsent: SealedEnvelope;
  let heldAfterReconsent: SealedEnvelope;

  it('are accepted while the participant has not yet consented to v2', async () => {
    heldBeforeReconsent = sealV1(pat, 0, 60);
    expect((await ingest(heldBeforeReconsent)).statusCode).toBe(201);
  });

  it('are accepted after the participant consents to v2 when each started while consent to v1 held, and aggregated once', async () => {
    expect(await world.consent(pat, 'given', undefined, iso(v2ConsentAt))).toBe(201);
    // 3:00 to 3:15 began before the v2 consent at 3:07: the agent stopped v1 capture when it learnt of v2.
    heldAfterReconsent = sealV1(pat, 120, 180);
    const response = await ingest(heldAfterReconsent);
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json()).toEqual({ batchId: heldAfterReconsent.header.batchId, status: 'stored' });

    expect(world.aggregator.runOnce()).toMatchObject({ accepted: 2, quarantined: 0 });
    expect(rowBatches()).toEqual([heldBeforeReconsent.header.batchId, heldAfterReconsent.header.batchId]);

    expect((await ingest(heldAfterReconsent)).json()).toEqual({ batchId: heldAfterReconsent.header.batchId, status: 'duplicate' });
    expect(world.aggregator.runOnce()).toMatchObject({ accepted: 0, quarantined: 0 });
    expect(rowBatches()).toHaveLength(2);
  });

  it('are quarantined with the reason when a window started after the participant consented to v2, and none of the batch is kept', async () => {
    const late = sealV1(pat, 120, 195);
    // The API server cannot see when windows started; it stores the sealed batch for the aggregator.
    expect((await ingest(late)).statusCode).toBe(201);
    expect(world.aggregator.runOnce()).toMatchObject({ accepted: 0, quarantined: 1 });
    const entry = world.store.aggregator.quarantineOfStudy(STUDY).find((row) => row.batchId === late.header.batchId);
    expect(entry?.reasons).toEqual(['windows[1].windowStart: is outside every period in which the participant consented to this study version']);
    expect(rowBatches()).not.toContain(late.header.batchId);
  });

  it('still admits v2 windows that started after the v2 consent', async () => {
    const current = world.seal(pat, { windows: [window(2, 195)] }, { studyVersion: 2 });
    expect((await ingest(current)).statusCode).toBe(201);
    expect(world.aggregator.runOnce()).toMatchObject({ accepted: 1, quarantined: 0 });
    expect(rowBatches()).toContain(current.header.batchId);
  });

  it('quarantines a v1 window that started after consent to v1 expired, though the participant renewed with v2', async () => {
    const device = early.expiredV1;
    if (!device) throw new Error('no device');
    expect(await world.consent(device, 'given', undefined, iso(v2ConsentAt))).toBe(201);
    const inTime = sealV1(device, 45);
    const afterExpiry = sealV1(device, 120);
    expect((await ingest(inTime)).statusCode).toBe(201);
    expect((await ingest(afterExpiry)).statusCode).toBe(201);
    expect(world.aggregator.runOnce()).toMatchObject({ accepted: 1, quarantined: 1 });
    expect(rowBatches()).toContain(inTime.header.batchId);
    expect(world.store.aggregator.quarantineOfStudy(STUDY).map((row) => row.batchId)).toContain(afterExpiry.header.batchId);
  });

  it('are refused once the participant has withdrawn', async () => {
    const device = early.withdrawing;
    if (!device) throw new Error('no device');
    expect(await world.consent(device, 'given', undefined, iso(v2ConsentAt))).toBe(201);
    expect(await world.consent(device, 'withdrawn', undefined, iso(v2ConsentAt + 60 * MINUTE))).toBe(201);
    await expectRefused(sealV1(device, 60), 'ingest.no-consent');
  });

  it('are refused when consent to v1 has expired and was never renewed', async () => {
    const device = early.lapsed;
    if (!device) throw new Error('no device');
    await expectRefused(sealV1(device, 30), 'ingest.no-consent');
  });

  it('are refused from a device that never consented to v1', async () => {
    const newcomer = await participant('nia');
    expect(await world.consent(newcomer)).toBe(201);
    await expectRefused(sealV1(newcomer, 60), 'ingest.no-consent');
  });

  it('refuses an envelope of a version newer than the current one', async () => {
    await expectRefused(world.seal(pat, { windows: [window(3, 195)] }, { studyVersion: 3 }), 'ingest.study-not-open');
  });
});
