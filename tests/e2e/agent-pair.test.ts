/**
 * `candor pair` as a participant meets it: a real Candor server (the whole API with its real
 * SQLite files and keys, listening on 127.0.0.1, its aggregator run pass by pass), a real
 * daemon process (`candor daemon`, replaying a recording so no X server is needed) and
 * separate `candor` processes. Pairing keeps the server's answer; consent is countersigned
 * and kept on both sides; a session's windows are accepted by that server and opened by its
 * aggregator. Each way pairing can fail says so with its exit code and keeps nothing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKeyPair, randomBytes, randomId, toBase64Url } from '@candor/shared/crypto';
import { verifyParticipantSignature, verifyServerCountersignature } from '@candor/shared/consent';
import { ConsentReceipt } from '@candor/shared/schemas/consent';
import { AgentStatus, formatPairingCode, PAIRING_CODE_BYTES } from '@candor/shared/schemas/control';
import { parseUnknown } from '@candor/shared/validation';
import { PAIRING_FILE } from '../../agent/src/pair/record.ts';
import { loadOrCreateServerKeys } from '../../server/src/keys/files.ts';
import { studyInput } from '../server/world.ts';
import { waitFor } from '../support/wait.ts';
import { LIVENESS_MS, type DaemonProcess, type PairingServer, runCandor, type CliRun, startAgentBeside } from './paired-agent.ts';

const STUDY = 'pairing-check';

let close: () => Promise<void>;
let dataDir: string;
let server: PairingServer;
let daemon: DaemonProcess;

/** Runs `candor COMMAND --data-dir D ARGS…` against this test's agent. */
const candor = (command: string, ...args: string[]): Promise<CliRun> => runCandor(dataDir, command, ...args);

function expectOneLineError(run: CliRun, code: number, message: RegExp): void {
  expect(run.code, run.stderr).toBe(code);
  expect(run.stderr).toMatch(message);
  expect(run.stderr).not.toMatch(/^\s+at /m);
  expect(run.stderr.trim().split('\n')).toHaveLength(1);
}

/** What pairing may change on this device, as the participant and the agent's files show it. */
async function deviceState(): Promise<unknown> {
  const status = parseUnknown(AgentStatus, JSON.parse((await candor('status', '--json')).stdout), 'status');
  const file = (name: string): string | null => (existsSync(join(dataDir, name)) ? readFileSync(join(dataDir, name)).toString('base64') : null);
  return {
    studies: JSON.parse((await candor('studies', '--json')).stdout) as unknown,
    uploadsTo: status.storage.uploadsTo,
    state: status.state,
    pairingRecord: file(PAIRING_FILE),
    consent: file('consent.json'),
    receipts: file('receipts.jsonl'),
  };
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => { resolve(); }));
  return port;
}

beforeAll(async () => {
  ({ server, daemon, dataDir, close } = await startAgentBeside(STUDY));
}, 2 * LIVENESS_MS);

afterAll(() => close());

describe('candor pair refuses, and keeps nothing', () => {
  it('plain http to another machine, or an address that is not a URL, with exit code 2 before anything is sent', async () => {
    const before = await deviceState();
    const code = formatPairingCode(randomBytes(PAIRING_CODE_BYTES));
    expectOneLineError(await candor('pair', '--server', 'http://candor.example.org', '--study', STUDY, code), 2, /refusing plain http to candor\.example\.org.*use https:\/\/candor\.example\.org/);
    expectOneLineError(await candor('pair', '--server', 'candor.example.org', '--study', STUDY, code), 2, /not a URL/);
    expectOneLineError(await candor('pair', '--study', STUDY, code), 2, /candor pair --server URL --study STUDY CODE/);
    expectOneLineError(await candor('pair', '--server', server.url, '--study', STUDY, 'A'.repeat(22)), 2, /expected the pairing code the server showed, five groups of four letters and digits/);
    expect(await deviceState()).toEqual(before);
  });

  it('a server that does not answer, with exit code 5', async () => {
    const before = await deviceState();
    const run = await candor('pair', '--server', `http://127.0.0.1:${String(await closedPort())}`, '--study', STUDY, await server.pairingCode());
    expectOneLineError(run, 5, /could not reach the server at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\).*nothing was changed/);
    expect(await deviceState()).toEqual(before);
  });

  it.each([
    ['a wrong code', () => Promise.resolve(formatPairingCode(randomBytes(PAIRING_CODE_BYTES)))],
    [
      'a code already used by another device',
      async () => {
        const code = await server.pairingCode();
        const other = { code, studyId: STUDY, devicePublicKey: toBase64Url(generateSigningKeyPair().publicKey), pseudonym: `p_${randomId()}` };
        expect((await server.world.as(undefined, 'POST', '/api/v1/devices/pair', other)).statusCode).toBe(201);
        return code;
      },
    ],
    [
      'an expired code',
      async () => {
        const code = await server.pairingCode();
        server.setClockOffset(11 * 60_000);
        return code;
      },
    ],
  ])('%s, with exit code 1', async (_, codeFor) => {
    const before = await deviceState();
    try {
      const run = await candor('pair', '--server', server.url, '--study', STUDY, await codeFor());
      expectOneLineError(run, 1, /does not accept this pairing code: it is wrong, already used, or expired/);
    } finally {
      server.setClockOffset(0);
    }
    expect(await deviceState()).toEqual(before);
  });
});

describe('a paired agent', () => {
  it('offers the study, records consent countersigned on both sides, and its session is accepted by the server and opened by the aggregator', async () => {
    const offline = JSON.parse((await candor('studies', '--json')).stdout) as { studyId: string }[];
    expect(offline.map((study) => study.studyId)).toEqual(['coding-practice']);

    // The key id as the organisation would publish it beside the code, so nothing is trusted on first use.
    const serverKey = loadOrCreateServerKeys(server.world.serverKeyFile).current;
    const paired = await candor('pair', '--server', server.url, '--study', STUDY, `--server-key=${server.serverKeyId}`, await server.pairingCode());
    expect(paired.code, paired.stderr).toBe(0);
    expect(paired.stdout).toContain(`Paired with ${server.url} for "${studyInput(STUDY).title}" (${STUDY} v1).`);
    expect(paired.stdout).toContain(serverKey.keyId);
    expect(paired.stdout).toContain(`candor enroll ${STUDY}`);

    // One source of studies at a time: once paired, the server's, not the files'.
    const studies = await candor('studies');
    expect(studies.stdout.trimEnd()).toBe(`  ${STUDY} v1  ${studyInput(STUDY).title}`);
    const status = parseUnknown(AgentStatus, JSON.parse((await candor('status', '--json')).stdout), 'status');
    expect(status.storage.uploadsTo).toBe(server.url);

    const enrolled = await candor('enroll', STUDY, '--yes');
    expect(enrolled.code, enrolled.stderr).toBe(0);
    expect(enrolled.stdout).toContain(`Enrolled in ${studyInput(STUDY).title} (${STUDY} v1)`);

    // The receipt kept here carries both signatures, and the server holds the same one.
    const kept = readFileSync(join(dataDir, 'receipts.jsonl'), 'utf8').trim().split('\n').map((line) => parseUnknown(ConsentReceipt, JSON.parse(line), 'receipt'));
    const receipt = kept.at(-1);
    if (!receipt) throw new Error('no receipt kept');
    expect(receipt.event.state).toBe('given');
    expect(verifyServerCountersignature(receipt, serverKey.publicKey)).toBe(true);
    const participation = (await server.world.as(server.participant, 'GET', '/api/v1/me/participation')).json<{ devices: { deviceKeyId: string; receipts: ConsentReceipt[] }[] }>();
    const device = participation.devices.find((candidate) => candidate.receipts.length > 0);
    expect(device?.receipts).toEqual([receipt]);
    const deviceKey = server.world.store.findDevice(receipt.integrity.participant.keyId);
    expect(deviceKey && verifyParticipantSignature(receipt, deviceKey.publicKey)).toBe(true);

    expect((await candor('start')).code).toBe(0);
    await waitFor(async () => (await daemon.client.call('status', {})).eventsAccepted > 20, 'replayed events to be captured', LIVENESS_MS);
    const stopped = await candor('stop', '--json');
    expect(parseUnknown(AgentStatus, JSON.parse(stopped.stdout), 'status').storage.windowsHeld).toBeGreaterThan(0);
    await waitFor(async () => (await daemon.client.call('pending', {})).length === 0, 'the windows to be accepted by the server', LIVENESS_MS);
    expect(server.world.store.countEnvelopesOfDevice(receipt.integrity.participant.keyId)).toBeGreaterThan(0);
    const pass = server.world.aggregator.runOnce();
    expect(pass.accepted).toBeGreaterThan(0);
    expect(pass.quarantined).toBe(0);
  }, 4 * LIVENESS_MS);

  it('refuses to pair the same study again, before the code is used', async () => {
    const before = await deviceState();
    const code = await server.pairingCode();
    // `--` before the code, as older instructions said, still works.
    expectOneLineError(await candor('pair', '--server', server.url, '--study', STUDY, '--', code), 1, new RegExp(`already paired for ${STUDY} with ${server.url}; nothing was changed and the code was not used`));
    expect(await deviceState()).toEqual(before);
    // The code is still good for another device.
    const other = { code, studyId: STUDY, devicePublicKey: toBase64Url(generateSigningKeyPair().publicKey), pseudonym: `p_${randomId()}` };
    expect((await server.world.as(undefined, 'POST', '/api/v1/devices/pair', other)).statusCode).toBe(201);
  });

  it('withdraws: the server erases the device\'s data and the agent verifies its acknowledgement with the pinned key', async () => {
    const withdrawn = await candor('withdraw', STUDY, '--json');
    expect(withdrawn.code, withdrawn.stderr).toBe(0);
    expect(parseUnknown(AgentStatus, JSON.parse(withdrawn.stdout), 'status').storage.erasuresAwaitingAck).toBe(1);
    // The server answers once its aggregator has erased the participant; run its passes meanwhile.
    await waitFor(
      async () => {
        server.world.aggregator.runOnce();
        return (await daemon.client.call('status', {})).storage.erasuresAwaitingAck === 0;
      },
      'the erasure to be acknowledged',
      LIVENESS_MS,
    );
    const participation = (await server.world.as(server.participant, 'GET', '/api/v1/me/participation')).json<{ devices: { deviceKeyId: string; withdrawn: boolean; batchesHeld: number }[] }>();
    const device = participation.devices.find((candidate) => candidate.withdrawn);
    expect(device).toMatchObject({ withdrawn: true, batchesHeld: 0 });
  }, 2 * LIVENESS_MS);
});

describe('a server key id given on the command line', () => {
  it('is read with --server-key=ID even when it begins with a dash, as one in 64 ids do', async () => {
    // This agent is paired with another server: reaching that refusal proves the id was read.
    const dashed = await candor('pair', '--server', 'http://127.0.0.1:1', '--study', STUDY, '--server-key=-AAAAAAAAAAAAAAAAAAAAA', '7K3M-Q9XD-4B2R-HN8C-W1FE');
    expect(dashed.stderr).toContain('it cannot pair with http://127.0.0.1:1 too');
    expect(dashed.stderr).not.toContain('Usage:');
    expect(dashed.code).toBe(1);
    // Without the =, the command line takes the id for an option, and says how to write it.
    const spaced = await candor('pair', '--server', 'http://127.0.0.1:1', '--study', STUDY, '--server-key', '-AAAAAAAAAAAAAAAAAAAAA', '7K3M-Q9XD-4B2R-HN8C-W1FE');
    expect(spaced.code).toBe(2);
    expect(spaced.stderr).toContain("use '--server-key=-XYZ'");
  });
});

