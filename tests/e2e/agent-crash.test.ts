/**
 * The daemon as `candor daemon` runs it, in its own process, paired with a real Candor server
 * on loopback, killed with SIGKILL mid-upload and mid-session and started again on the same
 * data dir: every window committed before a kill reaches the server once, and none twice.
 * What a killed session still held in memory is lost by design (docs/agent.md).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SealedEnvelope } from '@candor/shared/schemas/envelope';
import { waitFor } from '../support/wait.ts';
import { LIVENESS_MS, startDaemonProcess, startPairingServer, type DaemonProcess, type PairingServer } from './paired-agent.ts';

const STUDY = 'crash-check';

let root: string;
let dataDir: string;
let server: PairingServer;
const daemons = new Set<DaemonProcess>();

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'candor-crash-'));
  dataDir = join(root, 'data');
  server = await startPairingServer(STUDY);
}, 2 * LIVENESS_MS);

afterEach(async () => {
  for (const daemon of daemons) await daemon.kill();
  daemons.clear();
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

async function startDaemon(): Promise<DaemonProcess> {
  const daemon = await startDaemonProcess(dataDir, join(root, 'daemon.log'));
  daemons.add(daemon);
  return daemon;
}

async function kill(daemon: DaemonProcess): Promise<void> {
  await daemon.kill();
  daemons.delete(daemon);
}

describe('the daemon killed with SIGKILL', () => {
  it('loses no committed window and duplicates none, whether killed mid-upload or mid-session', async () => {
    const first = await startDaemon();
    await first.client.call('pair', { serverUrl: server.url, studyId: STUDY, code: await server.pairingCode(), serverKeyId: server.serverKeyId });
    const notice = await first.client.call('notice', { studyId: STUDY });
    await first.client.call('enroll', { studyId: STUDY, noticeHash: notice.noticeHash });

    // The server stores the first batch, then holds its answer until the test has seen what
    // the agent committed, and kills the daemon before answering.
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const stored: SealedEnvelope[] = [];
    server.onStored(async (envelope) => {
      stored.push(envelope);
      server.onStored(null);
      await released;
      await kill(first);
    });
    await first.client.call('start', {});
    await waitFor(async () => (await first.client.call('status', {})).eventsAccepted > 20, 'replayed events to be captured', LIVENESS_MS);
    await first.client.call('stop', {});
    const committed = await first.client.call('pending', {});
    expect(committed.length).toBeGreaterThan(0);
    await waitFor(() => stored.length === 1, 'the batch to reach the server', LIVENESS_MS);
    release();
    await first.exited;
    expect(server.ingestStatuses).toEqual([201]);

    // Started again: the same batch is sent again, under the same id, and kept once.
    const second = await startDaemon();
    await waitFor(async () => (await second.client.call('pending', {})).length === 0, 'the held batch to be confirmed', LIVENESS_MS);
    expect(server.ingestStatuses).toEqual([201, 200]);

    // A session killed while it captures: what it held in memory is gone, nothing else.
    await second.client.call('start', {});
    await waitFor(async () => (await second.client.call('status', {})).eventsAccepted > 5, 'the second session to capture', LIVENESS_MS);
    await kill(second);

    const third = await startDaemon();
    const status = await third.client.call('status', {});
    expect(status.capturing).toBe(false);
    expect(status.storage.dropped).toEqual({ budget: 0, age: 0, rejected: 0, undecryptable: 0 });
    await kill(third);

    const envelope = stored[0];
    if (!envelope) throw new Error('no envelope stored');
    const device = server.world.store.findDevice(envelope.header.senderKeyId);
    if (!device) throw new Error('the device is not paired');
    expect(server.world.store.countEnvelopesOfDevice(device.keyId)).toBe(1);
    const windows = server.windowsIn(envelope, device.publicKey);
    expect(windows.map((window) => window.windowStart).sort()).toEqual(committed.map((window) => window.windowStart).sort());
    const pass = server.world.aggregator.runOnce();
    expect(pass).toMatchObject({ accepted: 1, quarantined: 0 });
  }, 4 * LIVENESS_MS);
});
