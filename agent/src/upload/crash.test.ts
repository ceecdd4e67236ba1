/**
 * kill -9 at random points, at least 50 times in one run: while windows are being written
 * (mid-batch), while a request is on the wire or the server has stored a batch but not yet
 * answered (mid-upload), and at random instants that land in commits and checkpoints. After
 * each kill the file passes `PRAGMA integrity_check`; at the end every window the child
 * acknowledged has reached the server, and none twice.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { generateSealingKeyPair, generateSigningKeyPair, toBase64Url } from '@candor/shared/crypto';
import { startIngestContractServer } from '../../../tests/support/ingest-contract-server.ts';
import { openKeyRing } from '../keys/keyring.ts';
import { SAMPLE_STUDY, sampleWindowStart } from '../store/sample-windows.ts';
import { openStore, STORE_FILE } from '../store/store.ts';

/** Kills that must land (a child can finish before its kill arrives, so runs go on until they do). */
const KILLS = 54;
const MAX_RUNS = 150;
const WINDOWS_PER_RUN = 8;
const CHILD = join(import.meta.dirname, 'crash-child.ts');
const dir = mkdtempSync(join(tmpdir(), 'candor-crash-'));

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

type Run = { child: ChildProcess; lines: AsyncIterable<string>; exited: Promise<number | null> };

function spawnChild(args: readonly string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    resolve(code);
  }));
  return { child, lines: createInterface({ input: child.stdout }), exited };
}

function integrity(): string {
  const db = new Database(join(dir, STORE_FILE));
  const result = db.pragma('integrity_check', { simple: true });
  db.close();
  return String(result);
}

describe('the store and uploader under kill -9', () => {
  it('lose no acknowledged window and deliver none twice across at least 54 kills', { timeout: 180_000 }, async () => {
    const studyKey = generateSealingKeyPair();
    const serverKey = generateSigningKeyPair();
    const server = await startIngestContractServer({ serverKey, studyKey });
    const setupStore = openStore({ dataDir: dir, keyRing: openKeyRing({ keyDir: join(dir, 'keys'), env: {} }) });
    server.registerDevice(setupStore.deviceKey(SAMPLE_STUDY).publicKey);
    setupStore.close();
    const keys = [toBase64Url(studyKey.publicKey), toBase64Url(serverKey.publicKey)];
    const acknowledged = new Set<string>();
    const kinds = { 'while writing': 0, 'while uploading': 0, 'at a random instant': 0 };

    const killsLanded = (): number => Object.values(kinds).reduce((sum, count) => sum + count, 0);
    let runs = 0;
    try {
      for (let run = 0; killsLanded() < KILLS && run < MAX_RUNS; run += 1) {
        runs = run + 1;
        const child = spawnChild([dir, server.url, ...keys, String(run * WINDOWS_PER_RUN), String(WINDOWS_PER_RUN)]);
        const kill = (): void => {
          child.child.kill('SIGKILL');
        };
        const mode = run % 3;
        const killAfterStored = 1 + Math.floor(Math.random() * WINDOWS_PER_RUN);
        let stored = 0;
        if (mode === 1) {
          server.onStored(() => {
            kill();
            return undefined;
          });
        }
        for await (const line of child.lines) {
          if (line === 'ready' && mode === 2) setTimeout(kill, Math.random() * 150);
          const match = /^stored (\d+)$/.exec(line);
          if (match) {
            acknowledged.add(sampleWindowStart(Number(match[1])));
            stored += 1;
            if (mode === 0 && stored >= killAfterStored) kill();
          }
        }
        const code = await child.exited;
        server.onStored(null);
        if (code === null) kinds[mode === 0 ? 'while writing' : mode === 1 ? 'while uploading' : 'at a random instant'] += 1;
        expect(integrity()).toBe('ok');
      }
      // A last run without a kill drains whatever is left.
      const final = spawnChild([dir, server.url, ...keys, String(runs * WINDOWS_PER_RUN), '2']);
      const lines: string[] = [];
      for await (const line of final.lines) lines.push(line);
      expect(await final.exited).toBe(0);
      expect(lines.at(-1)).toBe('drained');
      for (const line of lines) {
        const match = /^stored (\d+)$/.exec(line);
        if (match) acknowledged.add(sampleWindowStart(Number(match[1])));
      }
    } finally {
      await server.close();
    }

    const arrived = server.received.flatMap((batch) => batch.windows ?? []).map((window) => window.windowStart);
    expect(killsLanded()).toBeGreaterThanOrEqual(KILLS);
    expect(kinds['while uploading']).toBeGreaterThan(0);
    expect(arrived.length).toBe(new Set(arrived).size);
    expect([...acknowledged].filter((start) => !arrived.includes(start))).toEqual([]);
    expect(integrity()).toBe('ok');
  });
});
