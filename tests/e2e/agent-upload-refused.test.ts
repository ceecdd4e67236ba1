/**
 * A server that refuses this device's uploads does not cost the participant their windows. A
 * real Candor server on 127.0.0.1 whose clock has moved past the consent's validity, so it
 * answers `ingest.no-consent` (403) while the agent still holds that consent as valid, and a
 * real `candor daemon` replaying a recording: the session's windows stay on the device, none is
 * counted as dropped, and `candor status` says the server refuses uploads and why. (That they
 * then arrive once the server accepts again: agent/src/upload/uploader.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStatus } from '@candor/shared/schemas/control';
import { parseUnknown } from '@candor/shared/validation';
import { generateSealingKeyPair, generateSigningKeyPair } from '@candor/shared/crypto';
import { SEED_STUDY, startTestAgent } from '../support/agent.ts';
import { startIngestContractServer } from '../support/ingest-contract-server.ts';
import { waitFor } from '../support/wait.ts';
import { CODING, LIVENESS_MS, runCandor, startAgentBeside, type CliRun, type DaemonProcess, type PairingServer } from './paired-agent.ts';

const STUDY = 'refused-uploads';
const DAY = 24 * 60 * 60_000;

let close: () => Promise<void>;
let dataDir: string;
let server: PairingServer;
let daemon: DaemonProcess;

const candor = (command: string, ...args: string[]): Promise<CliRun> => runCandor(dataDir, command, ...args);

beforeAll(async () => {
  ({ server, daemon, dataDir, close } = await startAgentBeside(STUDY, { enroll: true }));
}, 2 * LIVENESS_MS);

afterAll(() => close());

describe('uploads the server refuses', () => {
  it('keep the windows on the device, drop none, and candor status says why', async () => {
    expect((await candor('start')).code).toBe(0);
    await waitFor(async () => (await daemon.client.call('status', {})).eventsAccepted > 10, 'replayed events to be captured', LIVENESS_MS);
    // The consent the server countersigned lasts 90 days; by the server's clock it has now lapsed.
    server.setClockOffset(91 * DAY);
    expect((await candor('stop')).code).toBe(0);
    await waitFor(() => server.ingestRefusals.length > 0, 'the server to refuse the session’s windows', LIVENESS_MS);
    expect(server.ingestRefusals.map((refusal) => refusal.code)).toEqual(['ingest.no-consent']);

    const status = parseUnknown(AgentStatus, JSON.parse((await candor('status', '--json')).stdout), 'status');
    expect(status.storage.windowsHeld).toBeGreaterThan(0);
    expect(status.storage.dropped).toEqual({ budget: 0, age: 0, rejected: 0, undecryptable: 0 });
    expect(status.storage.uploadsRefused).toMatchObject({ studyId: STUDY, reason: 'it holds no active consent from this device for this study version' });
    const said = await candor('status');
    expect(said.stdout).toContain(`The server refuses uploads for ${STUDY} since `);
    expect(said.stdout).toContain('The windows stay encrypted on this device and are tried again');
    // Still there on a later pass: a refusal is retried with backoff, never turned into a drop.
    expect((await candor('pending')).stdout).toContain(STUDY);
  }, 4 * LIVENESS_MS);

  it('are pushed to a subscriber (the tray) as they happen, with nobody asking', async () => {
    // In-process, beside the ingest contract double, with nothing else refreshing the status
    // (the catalog is re-read hourly): only the uploads themselves can push these events.
    const [serverKey, studyKey] = [generateSigningKeyPair(), generateSealingKeyPair()];
    const contract = await startIngestContractServer({ serverKey, studyKey });
    const agent = await startTestAgent(
      { source: { kind: 'replay', file: CODING, speed: 4 }, upload: { serverUrl: contract.url, serverPublicKey: serverKey.publicKey, studyKeys: new Map([[SEED_STUDY.studyId, studyKey.publicKey]]) } },
      { holdBeforeUploadHours: 0 },
    );
    try {
      contract.registerDevice(agent.daemon.devicePublicKey(SEED_STUDY.studyId));
      contract.setMode('no-consent');
      await agent.enroll();
      const pushed: AgentStatus[] = [];
      agent.client.onEvent((event) => pushed.push(event.status));
      await agent.client.call('subscribe', {});
      await agent.client.call('start', {});
      await waitFor(async () => (await agent.client.call('status', {})).eventsAccepted > 5, 'replayed events to be captured', LIVENESS_MS);
      await agent.client.call('stop', {});
      await waitFor(() => pushed.some((status) => status.storage.uploadsRefused !== null), 'a status event saying the server refuses uploads', LIVENESS_MS);
      expect(pushed.find((status) => status.storage.uploadsRefused !== null)?.storage.windowsHeld).toBeGreaterThan(0);
    } finally {
      await agent.close();
      await contract.close();
    }
  }, 2 * LIVENESS_MS);
});

