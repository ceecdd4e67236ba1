/**
 * A paired agent follows the server's signing key through rotations: a real Candor server on
 * 127.0.0.1 whose admin rotates its key twice before each step, and a real daemon process
 * (`candor daemon`, replaying a recording). Each of the three things the server signs for the
 * agent — a consent countersignature, a study check's answer, a withdrawal's erasure
 * acknowledgement — meets a key the agent has not pinned, and is accepted only after the agent
 * walked the endorsement chain from its pinned key. Forged chains are refused in
 * agent-pair-answers.test.ts, by a server that can forge them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyServerCountersignature } from '@candor/shared/consent';
import { ConsentReceipt } from '@candor/shared/schemas/consent';
import { parseUnknown } from '@candor/shared/validation';
import { openKeyRing } from '../../agent/src/keys/keyring.ts';
import { PAIRING_SECRET_SLOT, readPairingRecord } from '../../agent/src/pair/record.ts';
import { openStore } from '../../agent/src/store/store.ts';
import { loadOrCreateServerKeys } from '../../server/src/keys/files.ts';
import { studyInput, type Session } from '../server/world.ts';
import { waitFor } from '../support/wait.ts';
import { LIVENESS_MS, type DaemonProcess, type PairingServer, runCandor, type CliRun, startAgentBeside } from './paired-agent.ts';

const STUDY = 'rotation-check';

let close: () => Promise<void>;
let dataDir: string;
let server: PairingServer;
let daemon: DaemonProcess;
let admin: Session;
/** Every key the server signed with, oldest first. */
const serverKeyIds: string[] = [];

/** Runs `candor COMMAND --data-dir D ARGS…` against this test's agent. */
const candor = (command: string, ...args: string[]): Promise<CliRun> => runCandor(dataDir, command, ...args);

/** Two rotations, as an admin makes them: the chain gains two links. */
async function rotateTwice(): Promise<void> {
  for (const reason of ['scheduled rotation', 'second scheduled rotation']) {
    const rotated = await server.world.as(admin, 'POST', '/api/v1/admin/keys/rotate', { reason });
    expect(rotated.statusCode, rotated.body).toBe(200);
    serverKeyIds.push(rotated.json<{ current: string }>().current);
  }
  const chain = (await server.world.as(undefined, 'GET', '/api/v1/server-key/endorsements')).json<{ endorsements: { endorsement: { newKeyId: string } }[] }>();
  expect(chain.endorsements.map((link) => link.endorsement.newKeyId)).toEqual(serverKeyIds.slice(1));
}

function receipts(): ConsentReceipt[] {
  return readFileSync(join(dataDir, 'receipts.jsonl'), 'utf8').trim().split('\n').map((line) => parseUnknown(ConsentReceipt, JSON.parse(line), 'receipt'));
}

beforeAll(async () => {
  ({ server, daemon, dataDir, close } = await startAgentBeside(STUDY, { pair: true }));
  admin = await server.world.signIn(server.world.person('ada', [{ role: 'admin', studyId: null }]));
  serverKeyIds.push(server.serverKeyId);
}, 2 * LIVENESS_MS);

afterAll(() => close());

describe('after the server rotates its signing key twice', () => {
  it('the agent accepts its consent countersigned by the newest key', async () => {
    await rotateTwice();
    const enrolled = await candor('enroll', STUDY, '--yes');
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const receipt = receipts().at(-1);
    expect(receipt?.integrity.server?.keyId).toBe(serverKeyIds.at(-1));
    const current = loadOrCreateServerKeys(server.world.serverKeyFile).current;
    expect(receipt && verifyServerCountersignature(receipt, current.publicKey)).toBe(true);
  }, 2 * LIVENESS_MS);

  it('the agent pairs for a second study, following the endorsements from the key it pinned to the newest', async () => {
    await rotateTwice();
    const second = `${STUDY}-two`;
    await server.world.openStudy(second, server.researcher, server.reviewer);
    server.world.aggregator.runOnce();
    expect((await server.world.as(server.participant, 'POST', `/api/v1/studies/${second}/enroll`)).statusCode).toBe(200);
    const code = (await server.world.as(server.participant, 'POST', `/api/v1/studies/${second}/pairing-codes`)).json<{ code: string }>().code;
    const paired = await candor('pair', '--server', server.url, '--study', second, code, '--json');
    expect(paired.code, paired.stderr).toBe(0);
    expect(JSON.parse(paired.stdout)).toMatchObject({ studyId: second, serverKeyId: serverKeyIds.at(-1) });
  }, 2 * LIVENESS_MS);

  it('the agent accepts a study check answered by the newest key, and learns of a new version from it', async () => {
    await rotateTwice();
    const v2 = { ...studyInput(STUDY, 2), holdBeforeUploadHours: 0, title: 'Rotation check, second version' };
    for (const response of [
      await server.world.as(server.researcher, 'POST', `/api/v1/studies/${STUDY}/versions`, v2),
      await server.world.as(server.researcher, 'POST', `/api/v1/studies/${STUDY}/versions/2/submit`),
      await server.world.as(server.reviewer, 'POST', `/api/v1/studies/${STUDY}/versions/2/approve`, { reason: 'title reviewed' }),
    ]) {
      expect(response.statusCode, response.body).toBeLessThan(300);
    }
    // `candor studies` asks the server; only an answer the agent could verify shows v2.
    await waitFor(
      async () => (JSON.parse((await candor('studies', '--json')).stdout) as { version: number }[]).some((study) => study.version === 2),
      'the agent to accept the study check signed by the newest key',
      LIVENESS_MS,
    );
  }, 2 * LIVENESS_MS);

  it('the agent accepts its withdrawal\'s erasure acknowledgement signed by the newest key, and then pins that key', async () => {
    await rotateTwice();
    const withdrawn = await candor('withdraw', STUDY, '--json');
    expect(withdrawn.code, withdrawn.stderr).toBe(0);
    await waitFor(
      async () => {
        server.world.aggregator.runOnce();
        return (await daemon.client.call('status', {})).storage.erasuresAwaitingAck === 0;
      },
      'the erasure to be acknowledged',
      2 * LIVENESS_MS,
    );
    await daemon.kill();
    const store = openStore({ dataDir, keyRing: openKeyRing({ keyDir: dataDir }) });
    try {
      const record = readPairingRecord(dataDir, () => store.deviceKey(PAIRING_SECRET_SLOT));
      expect(record?.serverKey.keyId).toBe(serverKeyIds.at(-1));
      // Four walks, each of two links: the keys it left are the first, third, fifth and seventh.
      expect(record?.formerServerKeyIds).toEqual([serverKeyIds[0], serverKeyIds[2], serverKeyIds[4], serverKeyIds[6]]);
    } finally {
      store.close();
    }
  }, 3 * LIVENESS_MS);
});
