/**
 * A pairing that did not complete never leaves the device stuck, nor the server holding a key
 * nobody keeps. The real server (on 127.0.0.1) refuses a code for another study than the one
 * the agent names, before registering anything; the agent discards the key it made, so a good
 * code for the study the participant named then pairs, with a key the server had not seen,
 * and the refused code, unused, still pairs the study it is for. (An answer the agent refuses
 * after the server registered its key: agent-pair-answers.test.ts.)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiptHash } from '@candor/shared/consent';
import { ConsentReceipt } from '@candor/shared/schemas/consent';
import { ControlClient } from '../../agent/src/control/client.ts';
import { startDaemon, type RunningDaemon } from '../../agent/src/daemon/daemon.ts';
import { CODING, LIVENESS_MS, refusal, startPairingServer, type PairingServer } from './paired-agent.ts';

const STUDY = 'pairing-retry';
const OTHER = 'pairing-other';

let root: string;
let server: PairingServer;
let daemon: RunningDaemon;
let client: ControlClient;
/** A code for OTHER, first offered for STUDY. */
let otherCode: string;

/** The device keys the server holds for the participant, by study. */
async function serverDevices(): Promise<{ deviceKeyId: string; studyId: string }[]> {
  const response = await server.world.as(server.participant, 'GET', '/api/v1/me/participation');
  return response.json<{ devices: { deviceKeyId: string; studyId: string }[] }>().devices.map(({ deviceKeyId, studyId }) => ({ deviceKeyId, studyId }));
}

beforeAll(async () => {
  server = await startPairingServer(STUDY);
  const researcher = await server.world.signIn(server.world.person('otto', [{ role: 'researcher', studyId: null }]));
  const reviewer = await server.world.signIn(server.world.person('rhea', [{ role: 'privacy_reviewer', studyId: null }]));
  await server.world.openStudy(OTHER, researcher, reviewer);
  expect((await server.world.as(server.participant, 'POST', `/api/v1/studies/${OTHER}/enroll`)).statusCode).toBe(200);
  root = mkdtempSync(join(tmpdir(), 'candor-pair-retry-'));
  daemon = await startDaemon({ dataDir: root, source: { kind: 'replay', file: CODING }, log: pino({ level: 'silent' }), catalogRefreshMs: 3_600_000 });
  client = await ControlClient.connect({ socketPath: daemon.socketPath, timeoutMs: 30_000 });
}, LIVENESS_MS);

afterAll(async () => {
  client.close();
  await daemon.close();
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

describe('a pairing whose answer the agent refused', () => {
  it('refuses a code for another study before the server registers anything, and a good code then pairs', async () => {
    otherCode = (await server.world.as(server.participant, 'POST', `/api/v1/studies/${OTHER}/pairing-codes`)).json<{ code: string }>().code;
    expect(await refusal(client.call('pair', { serverUrl: server.url, studyId: STUDY, code: otherCode }))).toBe('pair.wrong-study');
    // The server registered nothing.
    expect(await serverDevices()).toEqual([]);

    const paired = await client.call('pair', { serverUrl: server.url, studyId: STUDY, code: await server.pairingCode() });
    expect(paired).toMatchObject({ serverUrl: server.url, studyId: STUDY, version: 1 });
    const devices = await serverDevices();
    const ours = devices.find((device) => device.studyId === STUDY);
    expect(ours).toBeDefined();
    expect(devices).toHaveLength(1);

    // The consent the device now signs is its paired key's, which the server countersigns.
    const notice = await client.call('notice', { studyId: STUDY });
    expect((await client.call('enroll', { studyId: STUDY, noticeHash: notice.noticeHash })).state).toBe('enrolled');
  }, LIVENESS_MS);
});

describe('consent to a second study on the same agent', () => {
  it('starts its own receipt chain, which the server accepts: chains are per device key, as the server checks them', async () => {
    expect((await client.call('withdraw', { studyId: STUDY })).state).toBe('not-enrolled');
    // The code refused above for STUDY was not used: it pairs the study it is for.
    expect(await client.call('pair', { serverUrl: server.url, studyId: OTHER, code: otherCode })).toMatchObject({ studyId: OTHER });
    const notice = await client.call('notice', { studyId: OTHER });
    expect((await client.call('enroll', { studyId: OTHER, noticeHash: notice.noticeHash })).state).toBe('enrolled');
    const receipts = readFileSync(join(root, 'receipts.jsonl'), 'utf8').trim().split('\n').map((line) => ConsentReceipt.parse(JSON.parse(line)));
    expect(receipts.map((receipt) => [receipt.processing[0]?.captureScope.studyId, receipt.event.state])).toEqual([[STUDY, 'given'], [STUDY, 'withdrawn'], [OTHER, 'given']]);
    expect(receipts.map((receipt) => receipt.integrity.previousReceiptHash)).toEqual([null, receiptHash(receipts[0] as ConsentReceipt), null]);
  }, LIVENESS_MS);
});
