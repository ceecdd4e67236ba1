/**
 * The uploader against the ingest contract double (tests/support/ingest-contract-server.ts),
 * a real HTTP server on 127.0.0.1, with a real store on disk and an injected clock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { generateSealingKeyPair, generateSigningKeyPair, type SealingKeyPair } from '@candor/shared/crypto';
import { PRIVACY_LIMITS, UPLOAD_RETRY } from '@candor/shared/defaults';
import { startIngestContractServer, type IngestContractServer } from '../../../tests/support/ingest-contract-server.ts';
import { openKeyRing } from '../keys/keyring.ts';
import { SAMPLE_STUDY, sampleWindow } from '../store/sample-windows.ts';
import { openStore, STORE_FILE, type LocalStore, type StoreBudget } from '../store/store.ts';
import { retryDelayMs } from './backoff.ts';
import { Uploader } from './uploader.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Setup = {
  dir: string;
  store: LocalStore;
  server: IngestContractServer;
  uploader: Uploader;
  clock: { now: number };
  consent: { given: boolean };
  /** The study key the agent knows, and the studies it was told it should ask about again. */
  known: { studyKey: SealingKeyPair; staleFor: string[] };
  reopen: (serverPublicKey?: Uint8Array) => void;
};

async function setup(budget?: Partial<StoreBudget>): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'candor-upload-'));
  const clock = { now: Date.UTC(2026, 10, 23, 9) };
  const consent = { given: true };
  const known = { studyKey: generateSealingKeyPair(), staleFor: [] as string[] };
  const serverKey = generateSigningKeyPair();
  const server = await startIngestContractServer({ serverKey, studyKey: known.studyKey });
  const state = {} as Setup;
  const reopen = (serverPublicKey = serverKey.publicKey): void => {
    state.store = openStore({ dataDir: dir, keyRing: openKeyRing({ keyDir: join(dir, 'keys'), env: {} }), now: () => clock.now, ...(budget ? { budget } : {}) });
    state.uploader = new Uploader({
      store: state.store,
      serverUrl: server.url,
      studyKey: (studyId) => (studyId === SAMPLE_STUDY ? known.studyKey.publicKey : undefined),
      serverPublicKey,
      mayUpload: () => consent.given,
      onStaleStudyKey: (studyId) => known.staleFor.push(studyId),
      now: () => clock.now,
      random: () => 0.5,
    });
  };
  reopen();
  Object.assign(state, { dir, server, clock, consent, known, reopen });
  server.registerDevice(state.store.deviceKey(SAMPLE_STUDY).publicKey);
  cleanups.push(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  cleanups.push(() => server.close());
  cleanups.push(() => {
    state.store.close();
  });
  return state;
}

const arrivals = (server: IngestContractServer): string[] => server.received.flatMap((batch) => batch.windows ?? []).map((window) => window.windowStart);
const ingestStatuses = (server: IngestContractServer): number[] => server.requests.filter((request) => request.path.endsWith('/ingest')).map((request) => request.status);

/** Runs passes, moving the clock past any backoff, until the queue is empty (or `limit` passes). */
async function drain(s: Setup, limit = 50): Promise<void> {
  for (let pass = 0; pass < limit && s.store.status().windows > 0; pass += 1) {
    await s.uploader.runOnce();
    s.clock.now += UPLOAD_RETRY.maxDelayMs;
  }
}

describe('uploading held windows', () => {
  it('sends due windows once, sealed and signed, and then deletes the local copies', async () => {
    const s = await setup();
    s.store.putWindows([sampleWindow(1), sampleWindow(2), sampleWindow(3)], 0);
    const report = await s.uploader.runOnce();
    expect(report).toMatchObject({ batchesSent: 1, windowsSent: 3 });
    expect(arrivals(s.server)).toEqual([1, 2, 3].map((index) => sampleWindow(index).windowStart));
    expect(s.store.status().windows).toBe(0);
    await s.uploader.runOnce();
    expect(ingestStatuses(s.server)).toEqual([201]);
  });

  it('keeps windows on the device until the study hold period ends', async () => {
    const s = await setup();
    s.store.putWindows([sampleWindow(1)], 24);
    s.clock.now += 24 * HOUR - 1;
    await s.uploader.runOnce();
    expect(s.server.requests).toEqual([]);
    s.clock.now += 1;
    await s.uploader.runOnce();
    expect(arrivals(s.server)).toEqual([sampleWindow(1).windowStart]);
  });

  it('retries a batch whose answer was lost under the same batch id, which the server keeps once', async () => {
    const s = await setup();
    s.store.putWindows([sampleWindow(1), sampleWindow(2)], 0);
    s.server.onStored(() => 'drop-answer');
    expect(await s.uploader.runOnce()).toMatchObject({ batchesSent: 0, batchesDeferred: 1 });
    expect(s.store.status().windows).toBe(2);
    s.server.onStored(null);
    s.store.putWindows([sampleWindow(3)], 0); // arrives after the first batch was made: not part of it
    await drain(s);
    expect(ingestStatuses(s.server)).toEqual([0, 200, 201]);
    expect(arrivals(s.server)).toEqual([1, 2, 3].map((index) => sampleWindow(index).windowStart));
  });

  it.each([
    ['a refusal of the batch itself (a batch id held for another device) is final: the batch is dropped and counted', 'conflict', 0, 2],
    ['an envelope the server cannot read is final too: the same bytes would be refused again', 'unreadable', 0, 2],
    ['a refusal of the device (no consent the server knows of) is retried later', 'no-consent', 2, 0],
    ['a 4xx the agent does not know (a proxy in the way) is retried later', 'reject', 2, 0],
    ['a 503 is retried later', 'unavailable', 2, 0],
    ['a 429 is retried later', 'rate-limited', 2, 0],
    ['a dropped connection is retried later', 'down', 2, 0],
  ] as const)('%s', async (_, mode, kept, rejected) => {
    const s = await setup();
    s.store.putWindows([sampleWindow(1), sampleWindow(2)], 0);
    s.server.setMode(mode);
    await s.uploader.runOnce();
    expect(s.store.status()).toMatchObject({ windows: kept, dropped: { rejected } });
  });

  it('keeps every window while the server refuses the device, says why, and delivers each once when it accepts again', async () => {
    const s = await setup();
    // Two batches' worth: a refusal must not let the pass go on and lose the next batch either.
    const windows = Array.from({ length: 600 }, (_, index) => sampleWindow(index));
    s.store.putWindows(windows, 0);
    s.server.setMode('no-consent');
    const refusedAt = s.clock.now;
    for (let pass = 0; pass < 5; pass += 1) {
      await s.uploader.runOnce();
      s.clock.now += UPLOAD_RETRY.maxDelayMs;
    }
    expect(s.store.status()).toMatchObject({ windows: 600, dropped: { rejected: 0 } });
    expect(s.uploader.refusal()).toEqual({ studyId: SAMPLE_STUDY, reason: 'it holds no active consent from this device for this study version', since: refusedAt });
    s.server.setMode('ok');
    await drain(s);
    expect(s.store.status()).toMatchObject({ windows: 0, dropped: { rejected: 0 } });
    expect([...arrivals(s.server)].sort()).toEqual(windows.map((window) => window.windowStart).sort());
    expect(new Set(arrivals(s.server)).size).toBe(600);
    expect(ingestStatuses(s.server).filter((status) => status === 201).length).toBeGreaterThan(1);
    expect(s.uploader.refusal()).toBeNull();
  });

  it('keeps a batch refused as sealed to a rotated study key, asks for the key, and sends it once the new key is known', async () => {
    const s = await setup();
    s.store.putWindows([sampleWindow(1), sampleWindow(2)], 0);
    const rotated = generateSealingKeyPair();
    s.server.rotateStudyKey(rotated);
    expect(await s.uploader.runOnce()).toMatchObject({ batchesSent: 0, batchesRejected: 0, batchesDeferred: 1 });
    expect(s.known.staleFor).toEqual([SAMPLE_STUDY]);
    expect(s.store.status()).toMatchObject({ windows: 2, dropped: { rejected: 0 } });
    // The agent learns the new key (its study check); the batch need not wait out its backoff.
    s.known.studyKey = rotated;
    s.store.retryBatchNow(SAMPLE_STUDY, s.clock.now);
    expect(await s.uploader.runOnce()).toMatchObject({ batchesSent: 1, windowsSent: 2 });
    expect(ingestStatuses(s.server)).toEqual([400, 201]);
    expect(arrivals(s.server)).toEqual([1, 2].map((index) => sampleWindow(index).windowStart));
    expect(s.server.received[0]?.header.recipientKeyId).toBe(rotated.keyId);
  });

  it('sends a refused batch again at once, without asking, when the agent learnt the new key while that try was on its way', async () => {
    const s = await setup();
    s.store.putWindows([sampleWindow(1)], 0);
    const [before, rotated] = [s.known.studyKey, generateSealingKeyPair()];
    s.server.rotateStudyKey(rotated);
    // The first read seals the try; by the time the refusal arrives the agent knows the new key.
    let reads = 0;
    Object.defineProperty(s.known, 'studyKey', { get: () => (reads++ === 0 ? before : rotated) });
    expect(await s.uploader.runOnce()).toMatchObject({ batchesSent: 0, batchesDeferred: 1 });
    expect(await s.uploader.runOnce()).toMatchObject({ batchesSent: 1, windowsSent: 1 });
    expect(ingestStatuses(s.server)).toEqual([400, 201]);
    expect(s.known.staleFor).toEqual([]);
  });

  it('uploads in the background once started, and stops when told', async () => {
    const s = await setup();
    s.store.putWindows([sampleWindow(1)], 0);
    s.uploader.start();
    while (s.server.received.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await s.uploader.stop();
    s.store.putWindows([sampleWindow(2)], 0);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(arrivals(s.server)).toEqual([sampleWindow(1).windowStart]);
  });

  it('stops promptly when told to stop while a pass is still running', async () => {
    const s = await setup();
    s.store.putWindows([sampleWindow(1)], 0);
    s.uploader.start();
    // The contract server records the batch before it answers, so the pass is still in flight.
    while (s.server.received.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    const stopped = await Promise.race([
      s.uploader.stop().then(() => 'stopped'),
      new Promise((resolve) => setTimeout(resolve, 5_000, 'still running')),
    ]);
    expect(stopped).toBe('stopped');
  });

  it('sends nothing once the consent gate closes, and keeps the windows', async () => {
    const s = await setup();
    s.store.putWindows([sampleWindow(1)], 0);
    s.consent.given = false;
    await s.uploader.runOnce();
    expect(s.server.requests).toEqual([]);
    expect(s.store.status().windows).toBe(1);
  });

  it('keeps every request body within 256 KiB by splitting a large backlog', async () => {
    const s = await setup();
    const vocabulary = Object.fromEntries(Array.from({ length: 40 }, (_, token) => [`identifier_${String(token).padStart(10, '0')}`, token + 1]));
    for (let index = 0; index < 300; index += 10) {
      s.store.putWindows(Array.from({ length: 10 }, (_, offset) => sampleWindow(index + offset, { vocabulary })), 0);
    }
    await drain(s);
    expect(s.server.received.length).toBeGreaterThan(1);
    expect(Math.max(...s.server.received.map((batch) => Buffer.byteLength(batch.body)))).toBeLessThanOrEqual(PRIVACY_LIMITS.maxUploadBodyBytes);
    expect(arrivals(s.server)).toHaveLength(300);
  });

  it('never sends a window whose ciphertext was altered on disk', async () => {
    const s = await setup();
    const [tampered] = s.store.putWindows([sampleWindow(1), sampleWindow(2)], 0);
    const raw = new Database(join(s.dir, STORE_FILE));
    raw.prepare("UPDATE windows SET ciphertext = CAST(substr(ciphertext, 1, 60) || x'00' || substr(ciphertext, 62) AS BLOB) WHERE id = ?").run(tampered);
    raw.close();
    await s.uploader.runOnce();
    expect(arrivals(s.server)).toEqual([sampleWindow(2).windowStart]);
    expect(s.store.status().dropped.undecryptable).toBe(1);
  });
});

describe('offline', () => {
  it('holds a day of windows while the server is down, then delivers each once, in window order', async () => {
    const s = await setup();
    s.server.setMode('down');
    const windows = 96;
    for (let index = 0; index < windows; index += 1) {
      s.store.putWindows([sampleWindow(index)], 0);
      s.clock.now += 15 * MINUTE;
      await s.uploader.runOnce();
    }
    const attemptsWhileDown = ingestStatuses(s.server).length;
    expect(arrivals(s.server)).toEqual([]);
    // Backoff, not a retry per pass: far fewer attempts than the 96 passes made.
    expect(attemptsWhileDown).toBeLessThan(windows / 2);
    s.server.setMode('ok');
    await drain(s);
    const expected = Array.from({ length: windows }, (_, index) => sampleWindow(index).windowStart);
    expect(arrivals(s.server)).toEqual(expected);
    expect(s.store.status()).toMatchObject({ windows: 0, dropped: { budget: 0, age: 0, rejected: 0, undecryptable: 0 } });
  });

  it('drops the oldest windows first when the offline budget fills, and counts them for the participant', async () => {
    const s = await setup({ maxBytes: 4_000 });
    s.server.setMode('down');
    for (let index = 0; index < 40; index += 1) {
      s.store.putWindows([sampleWindow(index)], 0);
      s.clock.now += 15 * MINUTE;
      await s.uploader.runOnce();
    }
    const dropped = s.store.status().dropped.budget;
    expect(dropped).toBeGreaterThan(0);
    s.server.setMode('ok');
    await drain(s);
    const expected = Array.from({ length: 40 }, (_, index) => sampleWindow(index).windowStart).slice(dropped);
    expect(arrivals(s.server)).toEqual(expected);
  });
});

describe('withdrawal', () => {
  it('aborts the upload in flight at once, sends no more windows and delivers a signed erasure request', async () => {
    const s = await setup();
    s.store.putWindows([sampleWindow(1)], 0);
    s.server.setMode('hang');
    const pass = s.uploader.runOnce();
    while (s.server.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    s.uploader.halt(SAMPLE_STUDY);
    s.store.withdraw(SAMPLE_STUDY);
    expect(await pass).toMatchObject({ batchesSent: 0 });
    s.server.setMode('ok');
    const report = await s.uploader.runOnce();
    expect(report.erasuresAcknowledged).toBe(1);
    expect(s.server.erasures.map((erasure) => erasure.request.studyId)).toEqual([SAMPLE_STUDY]);
    expect(ingestStatuses(s.server)).toEqual([0]);
    expect(s.store.status().erasuresAwaitingAck).toBe(0);
  });

  it('retries the erasure request across restarts until a verified acknowledgement arrives', async () => {
    const s = await setup();
    s.store.withdraw(SAMPLE_STUDY);
    s.server.setMode('down');
    expect((await s.uploader.runOnce()).erasuresAcknowledged).toBe(0);
    s.store.close();

    // After a restart, an acknowledgement signed by a key other than the server's is not enough.
    s.reopen(generateSigningKeyPair().publicKey);
    s.server.setMode('ok');
    s.clock.now += UPLOAD_RETRY.maxDelayMs;
    expect((await s.uploader.runOnce()).erasuresAcknowledged).toBe(0);
    expect(s.store.status().erasuresAwaitingAck).toBe(1);
    s.store.close();

    s.reopen();
    s.clock.now += UPLOAD_RETRY.maxDelayMs;
    expect((await s.uploader.runOnce()).erasuresAcknowledged).toBe(1);
    expect(s.store.status().erasuresAwaitingAck).toBe(0);
    expect(new Set(s.server.erasures.map((erasure) => erasure.request.requestId)).size).toBe(1);
  });
});

describe('retry delays', () => {
  it.each([
    [1, UPLOAD_RETRY.initialDelayMs],
    [2, 2 * UPLOAD_RETRY.initialDelayMs],
    [3, 4 * UPLOAD_RETRY.initialDelayMs],
    [8, UPLOAD_RETRY.maxDelayMs],
    [40, UPLOAD_RETRY.maxDelayMs],
  ])('retry %i draws uniformly below a ceiling of %i ms', (attempts, ceiling) => {
    expect(retryDelayMs(attempts, () => 0)).toBe(0);
    expect(retryDelayMs(attempts, () => 0.5)).toBe(ceiling / 2);
    expect(retryDelayMs(attempts, () => 1 - Number.EPSILON)).toBe(ceiling - 1);
  });
});
