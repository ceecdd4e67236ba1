/**
 * The agent's store and uploader: windows stored per second (each an AEAD record, committed
 * with synchronous=FULL) and batches uploaded per second to the ingest contract double on
 * 127.0.0.1 (seal, sign, POST, verify, delete + TRUNCATE checkpoint). Prints a table; never
 * passes or fails on timings. The CPU/RSS comparison with a bare uiohook listener and the
 * soak need the whole capture pipeline and live with it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { generateSealingKeyPair, generateSigningKeyPair } from '@candor/shared/crypto';
import { startIngestContractServer } from '../../tests/support/ingest-contract-server.ts';
import { openKeyRing } from '../src/keys/keyring.ts';
import { SAMPLE_STUDY, sampleWindow } from '../src/store/sample-windows.ts';
import { openStore, type LocalStore } from '../src/store/store.ts';
import { Uploader } from '../src/upload/uploader.ts';

const rows: { case: string; operations: number; seconds: string; 'per second': string }[] = [];

function record(name: string, operations: number, started: number): void {
  const seconds = (performance.now() - started) / 1000;
  rows.push({ case: name, operations, seconds: seconds.toFixed(2), 'per second': (operations / seconds).toFixed(0) });
}

function freshStore(): { dir: string; store: LocalStore } {
  const dir = mkdtempSync(join(tmpdir(), 'candor-bench-'));
  return { dir, store: openStore({ dataDir: dir, keyRing: openKeyRing({ keyDir: join(dir, 'keys'), env: {} }) }) };
}

const vocabulary = { git: 12, rebase: 3, '--onto': 1, npm: 7, test: 9, vitest: 2, const: 14, await: 6 };

{
  const { dir, store } = freshStore();
  let started = performance.now();
  for (let index = 0; index < 2_000; index += 1) store.putWindows([sampleWindow(index, { vocabulary })], 24);
  record('store 1 window per commit', 2_000, started);
  started = performance.now();
  for (let index = 0; index < 6_000; index += 6) {
    store.putWindows(Array.from({ length: 6 }, (_, offset) => sampleWindow(10_000 + index + offset, { vocabulary })), 24);
  }
  record('store 6 windows per commit (windows)', 6_000, started);
  started = performance.now();
  const listed = store.listPending().length;
  record('list pending (decrypt + describe, windows)', listed, started);
  store.close();
  rmSync(dir, { recursive: true, force: true });
}

{
  const studyKey = generateSealingKeyPair();
  const serverKey = generateSigningKeyPair();
  const server = await startIngestContractServer({ serverKey, studyKey });
  const { dir, store } = freshStore();
  server.registerDevice(store.deviceKey(SAMPLE_STUDY).publicKey);
  const uploader = new Uploader({
    store,
    serverUrl: server.url,
    studyKey: () => studyKey.publicKey,
    serverPublicKey: serverKey.publicKey,
    mayUpload: () => true,
  });
  let started = performance.now();
  for (let index = 0; index < 300; index += 1) {
    store.putWindows([sampleWindow(index, { vocabulary })], 0);
    await uploader.runOnce();
  }
  record('upload batches of 1 window (batches)', 300, started);

  for (let index = 0; index < 20_000; index += 500) {
    store.putWindows(Array.from({ length: 500 }, (_, offset) => sampleWindow(1_000 + index + offset, { vocabulary })), 0);
  }
  const before = server.received.length;
  started = performance.now();
  const report = await uploader.runOnce();
  record(`upload a 20000-window backlog (batches of ≤500, ${String(report.batchesSent)} batches)`, report.batchesSent, started);
  rows.push({ case: '  … the same backlog in windows', operations: report.windowsSent, seconds: rows.at(-1)?.seconds ?? '', 'per second': (report.windowsSent / Number(rows.at(-1)?.seconds ?? 1)).toFixed(0) });
  if (server.received.length - before !== report.batchesSent) throw new Error('the server did not receive every batch');
  store.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}

console.table(rows);
