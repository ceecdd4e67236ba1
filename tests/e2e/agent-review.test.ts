/**
 * Reviewing what is held before it leaves, through the real `candor` CLI against a running
 * daemon (replay source, real store on disk): `pending` lists it, `delete` removes one window
 * for good, `forget 15m` removes what is stored and what is still in memory.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { PendingWindow } from '@candor/shared/schemas/control';
import { StudyVersion } from '@candor/shared/schemas/study';
import { consentNoticeOf } from '../../agent/src/consent/notice.ts';
import { openConsentRecords, UNPAIRED_AGGREGATOR_KEY_ID } from '../../agent/src/consent/receipts.ts';
import { openKeyRing } from '../../agent/src/keys/keyring.ts';
import { openStore, STORE_FILE } from '../../agent/src/store/store.ts';
import { SEED_STUDY, startTestAgent, type TestAgent } from '../support/agent.ts';
import { waitFor } from '../support/wait.ts';

const CODING = new URL('../../seeds/recordings/coding.jsonl', import.meta.url).pathname;
const CANDOR = new URL('../../agent/bin/candor.js', import.meta.url).pathname;
const run = promisify(execFile);

let agent: TestAgent | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

async function candor(command: string, ...args: string[]): Promise<{ code: number; stdout: string }> {
  if (!agent) throw new Error('no agent');
  try {
    const { stdout } = await run(process.execPath, [CANDOR, command, '--data-dir', agent.dataDir, ...args]);
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '' };
  }
}

async function pending(): Promise<PendingWindow[]> {
  const { code, stdout } = await candor('pending', '--json');
  expect(code).toBe(0);
  return PendingWindow.array().parse(JSON.parse(stdout));
}

/** Runs a session until the replay has delivered events, then ends it as told. */
async function capture(end: 'stop' | 'pause'): Promise<void> {
  if (!agent) throw new Error('no agent');
  const client = agent.client;
  await client.call('start', {});
  await waitFor(async () => (await client.call('status', {})).eventsAccepted > 20, 'replayed events to be captured', 10_000);
  await client.call(end, {});
}

function ciphertextOf(dataDir: string, id: string): Uint8Array {
  const db = new Database(join(dataDir, STORE_FILE), { readonly: true });
  try {
    const row = db.prepare('SELECT ciphertext FROM windows WHERE id = ?').get(id) as { ciphertext: Uint8Array } | undefined;
    if (!row) throw new Error(`no window ${id}`);
    return row.ciphertext;
  } finally {
    db.close();
  }
}

function filesContaining(dir: string, needle: Uint8Array): string[] {
  return readdirSync(dir)
    .map((name) => join(dir, name))
    .filter((path) => statSync(path, { throwIfNoEntry: false })?.isFile() === true && readFileSync(path).includes(Buffer.from(needle)));
}

describe('candor pending, delete and forget', () => {
  it('list the windows a stopped session left, in plain language, with what each would send', async () => {
    agent = await startTestAgent({ source: { kind: 'replay', file: CODING, speed: 4 } });
    await agent.enroll();
    expect(await pending()).toEqual([]);
    await capture('stop');
    const windows = await pending();
    const status = await agent.client.call('status', {});
    expect(windows.length).toBe(status.storage.windowsHeld);
    expect(windows.length).toBeGreaterThan(0);
    for (const window of windows) {
      expect(window.studyId).toBe('coding-practice');
      expect(window.leaving).toBe(false);
      // The seed study holds windows for 24 hours before upload.
      expect(Date.parse(window.dueAt) - Date.now()).toBeGreaterThan(23 * 60 * 60 * 1000);
      expect(window.description.length).toBeGreaterThan(0);
    }
    const text = await candor('pending');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`${String(windows.length)} windows held on this device`);
    for (const window of windows) expect(text.stdout).toContain(window.id);
  }, 30_000);

  it('delete removes one window for good, ciphertext included, and says so; a second delete finds nothing', async () => {
    agent = await startTestAgent({ source: { kind: 'replay', file: CODING, speed: 4 } });
    await agent.enroll();
    await capture('stop');
    const [first, ...rest] = await pending();
    if (!first) throw new Error('expected a held window');
    const ciphertext = ciphertextOf(agent.dataDir, first.id);
    // Control: the scan finds the window's ciphertext while it is held.
    expect(filesContaining(agent.dataDir, ciphertext).length).toBeGreaterThan(0);

    const deleted = await candor('delete', first.id);
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toContain(`Deleted ${first.id}`);
    expect((await pending()).map((window) => window.id)).toEqual(rest.map((window) => window.id));
    expect(filesContaining(agent.dataDir, ciphertext)).toEqual([]);

    const again = await candor('delete', first.id);
    expect(again.code).toBe(1);
    expect(again.stdout).toContain(`No window ${first.id}`);
    expect(await candor('delete', 'not-a-window-id')).toMatchObject({ code: 2 });
  }, 30_000);

  it('forget 15m removes stored windows and what the session still holds in memory', async () => {
    agent = await startTestAgent({ source: { kind: 'replay', file: CODING, speed: 4 } });
    await agent.enroll();
    await capture('stop');
    expect((await pending()).length).toBeGreaterThan(0);
    // Paused, the session's current window is only in memory; stopping would store it.
    await capture('pause');
    const forgot = await candor('forget', '15m', '--json');
    expect(forgot.code).toBe(0);
    expect(JSON.parse(forgot.stdout)).toMatchObject({ leaving: 0 });
    expect(await pending()).toEqual([]);
    await agent.client.call('stop', {});
    expect(await pending()).toEqual([]);

    // Control: the same pause and stop without forget does store the window held in memory.
    await capture('pause');
    await agent.client.call('stop', {});
    expect((await pending()).length).toBeGreaterThan(0);
  }, 30_000);
});

describe('after withdrawal', () => {
  it('erases what was held, and refuses a new enrollment in the same study on this device, saying why', async () => {
    agent = await startTestAgent({ source: { kind: 'replay', file: CODING, speed: 4 } });
    await agent.enroll();
    await capture('stop');
    expect((await pending()).length).toBeGreaterThan(0);
    const withdrawn = await candor('withdraw', 'coding-practice');
    expect(withdrawn.code).toBe(0);
    expect(await pending()).toEqual([]);

    const refusal: unknown = await agent.enroll().then(() => null, (error: unknown) => error);
    expect(refusal).toHaveProperty('code', 'consent.withdrawn');
    expect((refusal as Error).message).toMatch(/withdrew from coding-practice on this device/);
    const status = await agent.client.call('status', {});
    expect(status.state).toBe('not-enrolled');
    expect(status.capturing).toBe(false);
    // Never paired: nothing left this device, so no server is asked to erase anything (a request
    // no server acknowledges would wait forever in candor status).
    expect(status.storage.erasuresAwaitingAck).toBe(0);
    await expect(agent.client.call('start', {})).rejects.toHaveProperty('code');
  }, 30_000);

  it('finishes a withdrawal that a kill cut off after its receipt was kept, before the store\'s part', async () => {
    agent = await startTestAgent({ source: { kind: 'replay', file: CODING, speed: 4 } });
    await agent.enroll();
    await capture('stop');
    expect((await pending()).length).toBeGreaterThan(0);
    const dataDir = agent.dataDir;
    // What disk holds after a kill between keeping the withdrawn receipt and the store's withdrawal.
    await agent.restart(() => {
      const store = openStore({ dataDir, keyRing: openKeyRing({ keyDir: dataDir }) });
      const study = StudyVersion.parse(SEED_STUDY);
      openConsentRecords(dataDir, (studyId) => store.deviceKey(studyId)).record(study, consentNoticeOf(study), 'withdrawn', Date.now(), UNPAIRED_AGGREGATOR_KEY_ID);
      store.close();
    });
    const status = await agent.client.call('status', {});
    expect(status.state).toBe('not-enrolled');
    expect(status.storage.windowsHeld).toBe(0);
    expect(await pending()).toEqual([]);
    const refusal: unknown = await agent.enroll().then(() => null, (error: unknown) => error);
    expect(refusal).toHaveProperty('code', 'consent.withdrawn');
  }, 30_000);

  it('finishes a withdrawal that a kill cut off after the store had done its part, asking the server once', async () => {
    agent = await startTestAgent({ source: { kind: 'replay', file: CODING, speed: 4 } });
    await agent.enroll();
    await capture('stop');
    const dataDir = agent.dataDir;
    // What disk holds after a kill between the store's withdrawal and the session journal's.
    await agent.restart(() => {
      const store = openStore({ dataDir, keyRing: openKeyRing({ keyDir: dataDir }) });
      store.withdraw('coding-practice');
      store.close();
    });
    const status = await agent.client.call('status', {});
    expect(status.state).toBe('not-enrolled');
    expect(status.storage).toMatchObject({ windowsHeld: 0, erasuresAwaitingAck: 1 });
    // No second withdrawal, which would sign a second request with a new, unknown device key.
    const again = await candor('withdraw', 'coding-practice');
    expect(again.code).toBe(1);
    expect((await agent.client.call('status', {})).storage.erasuresAwaitingAck).toBe(1);
    expect(await pending()).toEqual([]);
  }, 30_000);
});
