/**
 * The daemon as `candor daemon` runs it, in its own process, killed with SIGKILL mid-session
 * and mid-upload and started again on the same data dir: every window committed before a
 * kill reaches the ingest contract server (a real loopback HTTP server), and none twice.
 * What a killed session still held in memory is lost by design (docs/agent.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateSealingKeyPair, generateSigningKeyPair, toBase64Url } from '@candor/shared/crypto';
import { ControlClient } from '../../agent/src/control/client.ts';
import { openKeyRing } from '../../agent/src/keys/keyring.ts';
import { openStore } from '../../agent/src/store/store.ts';
import { SEED_STUDY } from '../support/agent.ts';
import { startIngestContractServer, type IngestContractServer } from '../support/ingest-contract-server.ts';
import { waitFor } from '../support/wait.ts';

const CODING = new URL('../../seeds/recordings/coding.jsonl', import.meta.url).pathname;
const CANDOR = new URL('../../agent/bin/candor.js', import.meta.url).pathname;
const STUDY = SEED_STUDY.studyId;
/**
 * How long a daemon process may take to start or to upload before the test gives up. Generous
 * on purpose: a cold start under the whole suite's load on two cores once took over 20 s.
 * A bound on liveness, not a measurement.
 */
const LIVENESS_MS = 60_000;

let root: string;
let dataDir: string;
let studiesDir: string;
let contract: IngestContractServer;
const serverKey = generateSigningKeyPair();
const studyKey = generateSealingKeyPair();
const children = new Set<ChildProcess>();

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'candor-crash-'));
  dataDir = join(root, 'data');
  studiesDir = join(root, 'studies');
  mkdirSync(dataDir, { mode: 0o700 });
  mkdirSync(studiesDir);
  writeFileSync(join(studiesDir, `${STUDY}.v1.json`), JSON.stringify({ ...SEED_STUDY, holdBeforeUploadHours: 0 }));
  contract = await startIngestContractServer({ serverKey, studyKey });
  // Pairing stands in: the study's device key is made in the store and registered with the server.
  const store = openStore({ dataDir, keyRing: openKeyRing({ keyDir: dataDir }) });
  contract.registerDevice(store.deviceKey(STUDY).publicKey);
  store.close();
});

afterEach(async () => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  await contract.close();
  rmSync(root, { recursive: true, force: true });
});

type Daemon = { child: ChildProcess; client: ControlClient; exited: Promise<void> };

async function startDaemonProcess(upload: boolean): Promise<Daemon> {
  const args = [CANDOR, 'daemon', '--data-dir', dataDir, '--studies', studiesDir, '--source', `replay:${CODING}`];
  if (upload) args.push('--server', contract.url, '--server-key', toBase64Url(serverKey.publicKey), '--study-key', `${STUDY}=${toBase64Url(studyKey.publicKey)}`);
  const child = spawn(process.execPath, args, { stdio: 'ignore' });
  children.add(child);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      children.delete(child);
      resolve();
    });
  });
  let client: ControlClient | undefined;
  await waitFor(
    async () => {
      try {
        client = await ControlClient.connect({ socketPath: join(dataDir, 'agent.sock') });
        await client.call('ping', {});
        return true;
      } catch {
        client?.close();
        client = undefined;
        return false;
      }
    },
    'the daemon to answer on its socket',
    LIVENESS_MS,
  );
  if (!client) throw new Error('no client');
  return { child, client, exited };
}

async function kill(daemon: Daemon): Promise<void> {
  daemon.client.close();
  daemon.child.kill('SIGKILL');
  await daemon.exited;
}

describe('the daemon killed with SIGKILL', () => {
  it('loses no committed window and duplicates none, whether killed mid-session or mid-upload', async () => {
    // No server yet: the first session's windows are committed and held.
    const first = await startDaemonProcess(false);
    const notice = await first.client.call('notice', { studyId: STUDY });
    await first.client.call('enroll', { studyId: STUDY, noticeHash: notice.noticeHash });
    await first.client.call('start', {});
    await waitFor(async () => (await first.client.call('status', {})).eventsAccepted > 20, 'replayed events to be captured', LIVENESS_MS);
    await first.client.call('stop', {});
    const committed = await first.client.call('pending', {});
    expect(committed.length).toBeGreaterThan(0);
    // A second session, killed while it captures.
    await first.client.call('start', {});
    await waitFor(async () => (await first.client.call('status', {})).eventsAccepted > 5, 'the second session to capture', LIVENESS_MS);
    await kill(first);

    // With a server: the batch is stored there, and the daemon dies before hearing so.
    // The daemon may upload before it answers its first ping, so the hook kills the process itself.
    let killedMidUpload = false;
    contract.onStored(() => {
      killedMidUpload = true;
      for (const child of children) child.kill('SIGKILL');
      return 'drop-answer';
    });
    const second = await startDaemonProcess(true).catch(() => null);
    await waitFor(() => killedMidUpload && children.size === 0, 'an upload to reach the server and the daemon to die', LIVENESS_MS);
    second?.client.close();
    contract.onStored(null);
    expect(contract.received).toHaveLength(1);

    // Started again: the same batch is sent again, under the same id, and kept once.
    const third = await startDaemonProcess(true);
    try {
      await waitFor(async () => (await third.client.call('pending', {})).length === 0, 'the held batch to be confirmed', LIVENESS_MS);
      const status = await third.client.call('status', {});
      expect(status.capturing).toBe(false);
      expect(status.storage.dropped).toEqual({ budget: 0, age: 0, rejected: 0, undecryptable: 0 });
    } finally {
      await kill(third);
    }
    expect(contract.received).toHaveLength(1);
    expect(contract.requests.filter((request) => request.path === '/api/v1/ingest').map((request) => request.status)).toEqual([0, 200]);
    const windows = contract.received.flatMap((batch) => batch.windows ?? []);
    expect(windows).toHaveLength(committed.length);
    expect(windows.map((window) => window.windowStart).sort()).toEqual(committed.map((window) => window.windowStart).sort());
  }, 4 * LIVENESS_MS);
});
