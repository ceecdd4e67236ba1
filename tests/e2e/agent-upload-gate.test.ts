/**
 * Uploads follow consent: the daemon (replay source, real store, the ingest contract server on
 * loopback) sends held windows once their hold ends, and sends nothing once consent has
 * expired, however long the windows have waited. Time is a manual clock, so "a day later"
 * and "a hundred days later" need no waiting; the uploader's own loop runs on real timers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { generateSealingKeyPair, generateSigningKeyPair } from '@candor/shared/crypto';
import { createManualClock } from '../../agent/src/daemon/clock.ts';
import { startTestAgent, type TestAgent } from '../support/agent.ts';
import { startIngestContractServer, type IngestContractServer } from '../support/ingest-contract-server.ts';
import { sleep, waitFor } from '../support/wait.ts';

const CODING = new URL('../../seeds/recordings/coding.jsonl', import.meta.url).pathname;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Longer than the uploader's shortest sleep (1 s) twice over: a pass would have run. */
const UPLOAD_PASSES_MS = 3_000;

let agent: TestAgent | undefined;
let contract: IngestContractServer | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
  await contract?.close();
  contract = undefined;
});

/** Enrolls, captures a short session and stops it, so its windows are held for the seed study's 24 h. */
async function heldWindows(): Promise<{ agent: TestAgent; contract: IngestContractServer; clock: ReturnType<typeof createManualClock> }> {
  const serverKey = generateSigningKeyPair();
  const studyKey = generateSealingKeyPair();
  const server = await startIngestContractServer({ serverKey, studyKey });
  contract = server;
  const clock = createManualClock(Date.now());
  const started = await startTestAgent({
    source: { kind: 'replay', file: CODING, speed: 4 },
    clock,
    closeWindowsEveryMs: 200,
    upload: { serverUrl: server.url, serverPublicKey: serverKey.publicKey, studyKeys: new Map([['coding-practice', studyKey.publicKey]]) },
  });
  agent = started;
  await started.enroll();
  server.registerDevice(started.daemon.devicePublicKey('coding-practice'));
  await started.client.call('start', {});
  await waitFor(async () => (await started.client.call('status', {})).eventsAccepted > 20, 'replayed events to be captured', 10_000);
  const stopped = await started.client.call('stop', {});
  expect(stopped.storage.windowsHeld).toBeGreaterThan(0);
  return { agent: started, contract: server, clock };
}

describe('uploads and consent', () => {
  it('sends held windows once their hold has ended while consent is valid', async () => {
    const { agent: running, contract: server, clock } = await heldWindows();
    await sleep(UPLOAD_PASSES_MS);
    expect(server.received).toEqual([]);
    clock.advance(DAY_MS + 60_000);
    await waitFor(() => server.received.length > 0, 'the held windows to be uploaded', 10_000);
    await waitFor(async () => (await running.client.call('status', {})).storage.windowsHeld === 0, 'the sent windows to leave the store', 10_000);
  }, 30_000);

  it('sends nothing once consent has expired, even long after the hold', async () => {
    const { agent: running, contract: server, clock } = await heldWindows();
    // Past the consent's validity (90 days, or the study's end): the status says so.
    clock.advance(100 * DAY_MS);
    const status = await running.client.call('status', {});
    expect(status.reason).not.toBeNull();
    await sleep(UPLOAD_PASSES_MS);
    expect(server.received).toEqual([]);
    expect(server.requests.filter((request) => request.path === '/api/v1/ingest')).toEqual([]);
    expect(status.storage.windowsHeld).toBeGreaterThan(0);
  }, 30_000);
});
