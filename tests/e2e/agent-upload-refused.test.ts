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
import { waitFor } from '../support/wait.ts';
import { LIVENESS_MS, runCandor, startAgentBeside, type CliRun, type DaemonProcess, type PairingServer } from './paired-agent.ts';

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
});
