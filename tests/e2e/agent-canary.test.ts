/**
 * The whole agent, end to end, under a real X server: the real uiohook hook, real xdotool
 * typing into real X clients, the real daemon (redaction, encrypted store, uploader) and the
 * ingest contract server on loopback. Canary words typed during a session must never appear
 * in plaintext under the agent's data dir or in a raw upload body; every scan is paired with a
 * control showing the same scan finds the canary where it is present.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSealingKeyPair, generateSigningKeyPair, unwrapDataKey } from '@candor/shared/crypto';
import { utf8 } from '@candor/shared/encoding';
import { startDaemon, type DaemonOptions, type RunningDaemon } from '../../agent/src/daemon/daemon.ts';
import { ControlClient } from '../../agent/src/control/client.ts';
import { openKeyRing } from '../../agent/src/keys/keyring.ts';
import { STORE_FILE } from '../../agent/src/store/store.ts';
import { SEED_STUDY } from '../support/agent.ts';
import { startIngestContractServer, type IngestContractServer } from '../support/ingest-contract-server.ts';
import { SETTLE_MS, sleep, waitFor } from '../support/wait.ts';
import { startXvfb, type XServer } from '../support/xvfb.ts';

// Lower-case letters only, so xdotool types them the same on any layout.
const CANARY_VOCABULARY_APP = 'zqxcanaryvocabon';
const CANARY_OTHER_APP = 'zqxcanaryvocaboff';
const STUDY = SEED_STUDY.studyId;

let x: XServer;
let terminal: string;
let browser: string;
let contract: IngestContractServer;
let root: string;
let dataDir: string;
let studiesDir: string;
const previousDisplay = process.env.DISPLAY;
const serverKey = generateSigningKeyPair();
const studyKey = generateSealingKeyPair();

beforeAll(async () => {
  x = await startXvfb();
  process.env.DISPLAY = x.display;
  terminal = await x.openWindow('xterm', 'bash — ~/src/candor');
  browser = await x.openWindow('Firefox', 'Mozilla Firefox');
  contract = await startIngestContractServer({ serverKey, studyKey });
  root = mkdtempSync(join(tmpdir(), 'candor-e2e-'));
  dataDir = join(root, 'data');
  studiesDir = join(root, 'studies');
  mkdirSync(dataDir, { mode: 0o700 });
  mkdirSync(studiesDir);
  writeFileSync(join(studiesDir, `${STUDY}.v1.json`), JSON.stringify({ ...SEED_STUDY, holdBeforeUploadHours: 0 }));
});

afterAll(async () => {
  await contract.close();
  await x.stop();
  rmSync(root, { recursive: true, force: true });
  if (previousDisplay === undefined) delete process.env.DISPLAY;
  else process.env.DISPLAY = previousDisplay;
});

/** The daemon as `candor daemon` runs it, logging (at debug) to a file in its data dir. */
async function startAgent(upload: boolean): Promise<{ daemon: RunningDaemon; client: ControlClient; close(): Promise<void> }> {
  const options: DaemonOptions = {
    dataDir,
    studiesDir,
    source: { kind: 'live' },
    log: pino({ level: 'debug' }, pino.destination({ dest: join(dataDir, 'agent.log'), sync: true, append: true })),
    batchMs: 100,
    catalogRefreshMs: 3_600_000,
    ...(upload ? { upload: { serverUrl: contract.url, serverPublicKey: serverKey.publicKey, studyKeys: new Map([[STUDY, studyKey.publicKey]]) } } : {}),
  };
  const daemon = await startDaemon(options);
  const client = await ControlClient.connect({ socketPath: daemon.socketPath });
  return {
    daemon,
    client,
    async close() {
      client.close();
      await daemon.close();
    },
  };
}

async function typeInto(window: string, word: string): Promise<void> {
  await x.focus(window);
  await sleep(SETTLE_MS);
  await x.xdotool('type', '--delay', '20', `git ${word} status`);
  await x.xdotool('key', 'Return');
  await sleep(SETTLE_MS);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    const stat = statSync(path, { throwIfNoEntry: false });
    if (!stat) return [];
    return stat.isDirectory() ? filesUnder(path) : stat.isFile() ? [path] : [];
  });
}

/** The files under `dir` whose bytes contain `needle`. */
function filesContaining(dir: string, needle: Uint8Array): string[] {
  return filesUnder(dir).filter((path) => readFileSync(path).includes(Buffer.from(needle)));
}

type WrappedKey = { keyId: string; wrapped: Uint8Array };

function wrappedDataKeys(dbPath: string): WrappedKey[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.prepare('SELECT key_id AS keyId, wrapped FROM data_keys').all() as WrappedKey[];
  } finally {
    db.close();
  }
}

function windowCiphertexts(dbPath: string): Uint8Array[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    return (db.prepare('SELECT ciphertext FROM windows').all() as { ciphertext: Uint8Array }[]).map((row) => row.ciphertext);
  } finally {
    db.close();
  }
}

/** Does any master key now stored for this data dir unwrap this data key? */
function unwrapsNow({ keyId, wrapped }: WrappedKey): boolean {
  return openKeyRing({ keyDir: dataDir, env: {} })
    .load()
    .some((master) => {
      try {
        unwrapDataKey(master, keyId, wrapped);
        return true;
      } catch {
        return false;
      }
    });
}

describe('a canary typed during a session', () => {
  it('reaches the server only sealed, counted where typed vocabulary is on, and is never on disk or on the wire in plaintext', async () => {
    const agent = await startAgent(true);
    try {
      const notice = await agent.client.call('notice', { studyId: STUDY });
      await agent.client.call('enroll', { studyId: STUDY, noticeHash: notice.noticeHash });
      contract.registerDevice(agent.daemon.devicePublicKey(STUDY));
      const started = await agent.client.call('start', {});
      expect(started.capturing).toBe(true);
      await typeInto(terminal, CANARY_VOCABULARY_APP);
      await typeInto(browser, CANARY_OTHER_APP);
      await agent.client.call('stop', {});
      await waitFor(() => contract.received.length > 0, 'the session to be uploaded', 20_000);
      await waitFor(async () => (await agent.client.call('pending', {})).length === 0, 'the uploaded windows to leave the store', 10_000);
    } finally {
      await agent.close();
    }

    // Control: the canary typed in the terminal really was captured and counted, so its
    // bytes were inside the sealed body; the one typed in the browser was not rebuilt at all.
    const opened = JSON.stringify(contract.received.map((batch) => batch.windows));
    const vocabulary = contract.received.flatMap((batch) => batch.windows ?? []).flatMap((window) => (window.aggregate.signal === 'typed-vocabulary' ? [window.aggregate.counts] : []));
    expect(vocabulary.some((counts) => counts[CANARY_VOCABULARY_APP] === 1)).toBe(true);
    expect(opened.includes(CANARY_VOCABULARY_APP)).toBe(true);
    expect(opened.includes(CANARY_OTHER_APP)).toBe(false);

    for (const canary of [CANARY_VOCABULARY_APP, CANARY_OTHER_APP]) {
      expect(filesContaining(dataDir, utf8(canary)), canary).toEqual([]);
      for (const batch of contract.received) expect(batch.body.includes(canary), canary).toBe(false);
    }
    expect(existsSync(join(dataDir, 'device-key.json'))).toBe(false);
    expect(filesUnder(dataDir).map((path) => path.slice(dataDir.length + 1))).toEqual(expect.arrayContaining([STORE_FILE, 'agent.log', 'master-keys.json']));
  }, 60_000);

  it('is found by the same scan when it is in a file under the data dir in plaintext (the scan works)', () => {
    const control = mkdtempSync(join(root, 'control-'));
    const db = new Database(join(control, STORE_FILE));
    db.exec('CREATE TABLE plaintext (body TEXT)');
    db.prepare('INSERT INTO plaintext VALUES (?)').run(`git ${CANARY_VOCABULARY_APP} status`);
    db.close();
    expect(filesContaining(control, utf8(CANARY_VOCABULARY_APP))).toEqual([join(control, STORE_FILE)]);
  });

  it('leaves no ciphertext of the withdrawn study on disk, a copy taken before cannot be decrypted, and erasure is requested until acknowledged', async () => {
    // Follows the first test on the same data dir (still enrolled), uploading to the same
    // server, which now refuses the windows (no consent it knows of): they are kept, so they
    // are still held when the participant withdraws. Erasure requests it takes.
    contract.setMode('no-consent');
    const agent = await startAgent(true);
    const before = mkdtempSync(join(root, 'before-'));
    let ciphertexts: Uint8Array[];
    let wrapped: WrappedKey[];
    try {
      await agent.client.call('start', {});
      await typeInto(terminal, CANARY_VOCABULARY_APP);
      const stopped = await agent.client.call('stop', {});
      expect(stopped.storage.windowsHeld).toBeGreaterThan(0);
      for (const suffix of ['', '-wal']) {
        if (existsSync(join(dataDir, STORE_FILE + suffix))) copyFileSync(join(dataDir, STORE_FILE + suffix), join(before, STORE_FILE + suffix));
      }
      ciphertexts = windowCiphertexts(join(before, STORE_FILE));
      wrapped = wrappedDataKeys(join(before, STORE_FILE));
      expect(ciphertexts.length).toBe(stopped.storage.windowsHeld);
      // Control: before withdrawal the copy's data keys unwrap, and its ciphertext is in the files.
      expect(wrapped.length).toBeGreaterThan(0);
      expect(wrapped.every(unwrapsNow)).toBe(true);
      expect(ciphertexts.every((bytes) => filesContaining(dataDir, bytes).length > 0)).toBe(true);

      const withdrawn = await agent.client.call('withdraw', { studyId: STUDY });
      expect(withdrawn.state).toBe('not-enrolled');
      expect(withdrawn.storage.windowsHeld).toBe(0);
      expect(withdrawn.storage.erasuresAwaitingAck).toBe(1);
      await waitFor(() => contract.erasures.length === 1, 'the erasure request to reach the server', 10_000);
      await waitFor(async () => (await agent.client.call('status', {})).storage.erasuresAwaitingAck === 0, 'the acknowledgement to be verified', 10_000);
      expect(contract.erasures[0]?.request.studyId).toBe(STUDY);
    } finally {
      await agent.close();
      contract.setMode('ok');
    }
    for (const bytes of ciphertexts) expect(filesContaining(dataDir, bytes)).toEqual([]);
    for (const key of wrapped) expect(filesContaining(dataDir, key.wrapped)).toEqual([]);
    expect(wrapped.some(unwrapsNow)).toBe(false);
    expect(filesContaining(dataDir, utf8(CANARY_VOCABULARY_APP))).toEqual([]);
  }, 60_000);
});
