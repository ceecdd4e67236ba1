/**
 * A study's sealing key rotated under a paired agent (`candor-server keys rotate --which study`):
 * nothing captured is lost and nothing new is sealed to the old key. A real Candor server on
 * 127.0.0.1 with its aggregator run pass by pass, the real `candor-server` CLI, a real
 * `candor daemon` process replaying a recording, and `candor` commands as a participant types
 * them. The session's windows were captured before the rotation and leave after it: the first
 * try, sealed to the old key, is refused (`ingest.wrong-recipient`); the agent asks the server
 * for the current key and sends the same batch again, sealed to the new one. A participant who
 * consents again right after a rotation is not refused: the agent asks first.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsentReceipt } from '@candor/shared/schemas/consent';
import { AgentStatus } from '@candor/shared/schemas/control';
import type { SealedEnvelope } from '@candor/shared/schemas/envelope';
import { parseUnknown } from '@candor/shared/validation';
import { waitFor } from '../support/wait.ts';
import { LIVENESS_MS, runCandor, type CliRun, type DaemonProcess, type PairingServer, startAgentBeside } from './paired-agent.ts';

const STUDY = 'rekeyed-study';
const SERVER_CLI = new URL('../../server/src/cli/main.ts', import.meta.url).pathname;

let close: () => Promise<void>;
let dataDir: string;
let root: string;
let server: PairingServer;
let daemon: DaemonProcess;
/** Every envelope the server stored, in order. */
const stored: SealedEnvelope[] = [];

const candor = (command: string, ...args: string[]): Promise<CliRun> => runCandor(dataDir, command, ...args);

/** Rotates the study's key with the operator's command, then lets the aggregator publish it. */
function rotateStudyKey(): string {
  const before = server.world.store.aggregator.currentStudyKey(STUDY)?.keyId;
  const rotated = spawnSync(process.execPath, ['--import', 'tsx', SERVER_CLI, 'keys', 'rotate', '--which', 'study', '--study', STUDY, '--db', server.world.files.apiDb], { encoding: 'utf8' });
  expect(rotated.status, rotated.stderr).toBe(0);
  expect(server.world.aggregator.runOnce()).toMatchObject({ studyKeysPublished: 1 });
  const after = server.world.store.aggregator.currentStudyKey(STUDY)?.keyId;
  expect(after).toBeDefined();
  expect(after).not.toBe(before);
  return after ?? '';
}

beforeAll(async () => {
  ({ server, daemon, dataDir, root, close } = await startAgentBeside(STUDY, { enroll: true }));
  server.onStored((envelope) => {
    stored.push(envelope);
    return Promise.resolve();
  });
}, 2 * LIVENESS_MS);

afterAll(() => close());

describe('a study key rotated under a paired agent', () => {
  it('delivers the windows captured before the rotation, sealed to the new key, after one refusal and nothing dropped', async () => {
    expect((await candor('start')).code).toBe(0);
    await waitFor(async () => (await daemon.client.call('status', {})).eventsAccepted > 10, 'replayed events to be captured', LIVENESS_MS);
    // No status from here until the windows leave: a status asks the server, and the agent
    // would learn the new key before its first try.
    const newKeyId = rotateStudyKey();
    expect((await candor('stop')).code).toBe(0);
    await waitFor(() => stored.length > 0, 'the session’s windows to reach the server', LIVENESS_MS);

    // Refused once under the old key, then the same batch (same id, same windows) taken under the new one.
    expect(server.ingestRefusals.map((refusal) => refusal.code)).toEqual(['ingest.wrong-recipient']);
    expect(stored.map((envelope) => envelope.header.batchId)).toContain(server.ingestRefusals[0]?.batchId);
    expect(stored.map((envelope) => envelope.header.recipientKeyId)).toEqual(stored.map(() => newKeyId));
    // Sent again because the new key made it due, not because its backoff happened to run out.
    expect(readFileSync(join(root, 'daemon.log'), 'utf8')).toContain('"event":"upload.study-key-changed"');
    const status = parseUnknown(AgentStatus, JSON.parse((await candor('status', '--json')).stdout), 'status');
    expect(status.storage).toMatchObject({ windowsHeld: 0, dropped: { budget: 0, age: 0, rejected: 0, undecryptable: 0 } });
    expect(server.world.aggregator.runOnce()).toMatchObject({ accepted: stored.length, quarantined: 0 });
  }, 4 * LIVENESS_MS);

  it('consents again right after a rotation, naming the new key', async () => {
    const newKeyId = rotateStudyKey();
    const enrolled = await candor('enroll', STUDY, '--yes');
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const receipts = readFileSync(join(dataDir, 'receipts.jsonl'), 'utf8').trim().split('\n').map((line) => parseUnknown(ConsentReceipt, JSON.parse(line), 'receipt'));
    expect(receipts.at(-1)?.parties.aggregatorKeyId).toBe(newKeyId);
  }, 2 * LIVENESS_MS);
});
