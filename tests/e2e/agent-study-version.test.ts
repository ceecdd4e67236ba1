/**
 * A new study version reaches a paired agent and stops capture until the participant
 * consents to it (issue 6: enrolled participants consent again before their agents capture
 * under a new version). A real Candor server on 127.0.0.1, a real `candor daemon` process
 * replaying a recording, and `candor` commands as the participant types them: a reviewer
 * approves v2 → `candor status` asks the server, the session under v1 stops and says why →
 * `candor start` is refused → `candor enroll` consents to v2, countersigned → a session under
 * v2 is captured and its windows are accepted by the server, as is the window captured under
 * v1 before the agent learnt of v2, which it uploads after the participant consented to v2.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyServerCountersignature } from '@candor/shared/consent';
import { ConsentReceipt } from '@candor/shared/schemas/consent';
import { AgentStatus } from '@candor/shared/schemas/control';
import type { SealedEnvelope } from '@candor/shared/schemas/envelope';
import { parseUnknown } from '@candor/shared/validation';
import { loadOrCreateServerKeys } from '../../server/src/keys/files.ts';
import { studyInput } from '../server/world.ts';
import { waitFor } from '../support/wait.ts';
import { LIVENESS_MS, type DaemonProcess, type PairingServer, runCandor, type CliRun, startAgentBeside } from './paired-agent.ts';

const STUDY = 'versioned-study';

let close: () => Promise<void>;
let dataDir: string;
let server: PairingServer;
let daemon: DaemonProcess;
/** The study version of every envelope the server stored. */
const storedVersions: number[] = [];

/** Runs `candor COMMAND --data-dir D ARGS…` against this test's agent. */
const candor = (command: string, ...args: string[]): Promise<CliRun> => runCandor(dataDir, command, ...args);

async function status(): Promise<AgentStatus> {
  const run = await candor('status', '--json');
  expect(run.code, run.stderr).toBe(0);
  return parseUnknown(AgentStatus, JSON.parse(run.stdout), 'status');
}

beforeAll(async () => {
  ({ server, daemon, dataDir, close } = await startAgentBeside(STUDY, { enroll: true }));
  server.onStored((envelope: SealedEnvelope) => {
    storedVersions.push(envelope.header.studyVersion);
    return Promise.resolve();
  });
}, 2 * LIVENESS_MS);

afterAll(() => close());

describe('a study version approved after the agent paired', () => {
  it('stops capture under the old version, says why, captures again only once the participant consents to the new one, and delivers the window captured under the old one', async () => {
    expect((await candor('start')).code).toBe(0);
    await waitFor(async () => (await daemon.client.call('status', {})).eventsAccepted > 10, 'replayed events to be captured under v1', LIVENESS_MS);

    // The scope changes: the browser is no longer an allowed application.
    const v1 = studyInput(STUDY, 1);
    const v2 = { ...studyInput(STUDY, 2), holdBeforeUploadHours: 0, apps: { ...v1.apps, allow: (v1.apps.allow ?? []).filter((app) => app.match !== 'firefox') } };
    for (const response of [
      await server.world.as(server.researcher, 'POST', `/api/v1/studies/${STUDY}/versions`, v2),
      await server.world.as(server.researcher, 'POST', `/api/v1/studies/${STUDY}/versions/2/submit`),
      await server.world.as(server.reviewer, 'POST', `/api/v1/studies/${STUDY}/versions/2/approve`, { reason: 'narrower scope reviewed' }),
    ]) {
      expect(response.statusCode, response.body).toBeLessThan(300);
    }

    // `candor status` asks the server; the hook is removed and the participant is told why.
    let stopped: AgentStatus | undefined;
    await waitFor(
      async () => {
        stopped = await status();
        return !stopped.capturing;
      },
      'the agent to learn of v2 and stop capturing',
      LIVENESS_MS,
    );
    expect(stopped).toMatchObject({ state: 'stopped', capturing: false, consentNeeded: true, study: { studyId: STUDY, version: 1 } });
    expect(stopped?.reason).toBe(`study ${STUDY} has a new version (2); read it and consent again with: candor enroll ${STUDY}`);
    const human = await candor('status');
    expect(human.stdout).toContain(`The last session has stopped; another can start once you consent again (below).\nCapturing: no (study ${STUDY} has a new version (2); read it and consent again with: candor enroll ${STUDY}).`);
    const history = await daemon.client.call('history', {});
    expect(history.at(-1)).toMatchObject({ from: 'running', to: 'stopped' });
    expect(history.at(-1)?.reason).toMatch(/^capture stopped: study .* has a new version \(2\)/);

    const studies = await candor('studies', '--json');
    expect(JSON.parse(studies.stdout)).toEqual([{ studyId: STUDY, version: 2, title: v2.title, enrolled: false }]);
    const refused = await candor('start');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/new version \(2\)/);

    // Consent to v2: countersigned by the pinned server key, and kept on both sides.
    const enrolled = await candor('enroll', STUDY, '--yes');
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const receipts = readFileSync(join(dataDir, 'receipts.jsonl'), 'utf8').trim().split('\n').map((line) => parseUnknown(ConsentReceipt, JSON.parse(line), 'receipt'));
    const latest = receipts.at(-1);
    expect(latest?.processing[0]?.captureScope.studyVersion).toBe(2);
    expect(latest && verifyServerCountersignature(latest, loadOrCreateServerKeys(server.world.serverKeyFile).current.publicKey)).toBe(true);

    const before = storedVersions.length;
    const started = await candor('start', '--json');
    expect(started.code, started.stderr).toBe(0);
    expect(parseUnknown(AgentStatus, JSON.parse(started.stdout), 'status')).toMatchObject({ capturing: true, consentNeeded: false, study: { version: 2 } });
    await waitFor(async () => (await daemon.client.call('status', {})).eventsAccepted > 10, 'replayed events to be captured under v2', LIVENESS_MS);
    expect((await candor('stop')).code).toBe(0);
    await waitFor(() => storedVersions.slice(before).includes(2), 'a window under v2 to be accepted by the server', LIVENESS_MS);
    // The window captured under v1 before the agent learnt of v2 arrives too, and the aggregator keeps it:
    // consent to v1 was in force when it started (docs/server.md, ingest).
    await waitFor(() => storedVersions.includes(1), 'the window held under v1 to be accepted by the server', LIVENESS_MS);
    expect(server.world.aggregator.runOnce()).toMatchObject({ accepted: storedVersions.length, quarantined: 0 });
  }, 6 * LIVENESS_MS);
});
