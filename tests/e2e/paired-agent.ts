/**
 * What the tests of a paired agent share: a real Candor server (tests/server/world.ts: the
 * whole API on real SQLite files and keys, its aggregator run pass by pass) listening on
 * 127.0.0.1 with one open study and one enrolled participant, and real daemon processes
 * (`candor daemon` through agent/bin/candor.js, replaying a recording so no X server is needed).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { openEnvelope } from '@candor/shared/crypto';
import { CandorError } from '@candor/shared/errors';
import { fromUtf8 } from '@candor/shared/encoding';
import { SealedEnvelope, UploadBatch } from '@candor/shared/schemas/envelope';
import { API_PATHS } from '@candor/shared/schemas/ingest';
import type { WindowAggregate } from '@candor/shared/schemas/window';
import { ControlClient } from '../../agent/src/control/client.ts';
import { HttpError } from '../../server/src/http/errors.ts';
import type { AnyRoute } from '../../server/src/http/route.ts';
import { ALL_ROUTES } from '../../server/src/http/routes/index.ts';
import { loadOrCreateAggregatorKeys, loadOrCreateServerKeys } from '../../server/src/keys/files.ts';
import { createWorld, studyInput, type Session, type World } from '../server/world.ts';
import { waitFor } from '../support/wait.ts';

export const CANDOR = new URL('../../agent/bin/candor.js', import.meta.url).pathname;
export const CODING = new URL('../../seeds/recordings/coding.jsonl', import.meta.url).pathname;
/**
 * How long a daemon process may take to start or to upload before a test gives up: a cold
 * start under the whole suite's load on two cores once took over 20 s. A bound on liveness,
 * not a measurement.
 */
export const LIVENESS_MS = 60_000;

/** Runs after the server has stored an envelope and before it answers. */
export type StoredHook = (envelope: SealedEnvelope) => Promise<void>;

export type PairingServer = {
  readonly world: World;
  readonly url: string;
  readonly studyId: string;
  readonly participant: Session;
  /** The study's researcher and the reviewer who approves its versions. */
  readonly researcher: Session;
  readonly reviewer: Session;
  /** The server's signing key id, as an organisation would publish it beside the code. */
  readonly serverKeyId: string;
  /** The HTTP status of every ingest request the server answered (or would have). */
  readonly ingestStatuses: number[];
  /** Every ingest request the server refused: its error code and the batch it carried. */
  readonly ingestRefusals: { code: string; batchId: string }[];
  /** A fresh one-time pairing code for the study, as the participant gets it. */
  pairingCode(): Promise<string>;
  onStored(hook: StoredHook | null): void;
  /** Opens an envelope as the aggregator would, to see the windows in it. */
  windowsIn(envelope: SealedEnvelope, devicePublicKey: Uint8Array): WindowAggregate[];
  /** The server's clock runs this far ahead of the real one. */
  setClockOffset(ms: number): void;
  close(): Promise<void>;
};

/**
 * Starts the server with `studyId` open (no hold before upload, so a session's windows leave
 * when it stops) and a participant enrolled in it.
 */
export async function startPairingServer(studyId: string): Promise<PairingServer> {
  let offsetMs = 0;
  let hook: StoredHook | null = null;
  const ingestStatuses: number[] = [];
  const ingestRefusals: { code: string; batchId: string }[] = [];
  // The ingest route as it is, with a pause after the store for the kill-mid-upload tests.
  const routes: AnyRoute[] = ALL_ROUTES.map((route) => {
    if (route.url !== API_PATHS.ingest) return route;
    return {
      ...route,
      handler: async (input: Parameters<AnyRoute['handler']>[0]) => {
        let result: Awaited<ReturnType<AnyRoute['handler']>>;
        try {
          result = await route.handler(input);
        } catch (error) {
          if (error instanceof HttpError) ingestRefusals.push({ code: error.code, batchId: (input.body as SealedEnvelope).header.batchId });
          throw error;
        }
        ingestStatuses.push(result.status);
        if (hook) await hook(input.body as SealedEnvelope);
        return result;
      },
    };
  });
  const world = await createWorld({ now: () => new Date(Date.now() + offsetMs), routes });
  const url = await world.app.listen({ host: '127.0.0.1', port: 0 });
  const researcher = await world.signIn(world.person('rita', [{ role: 'researcher', studyId: null }]));
  const reviewer = await world.signIn(world.person('rowan', [{ role: 'privacy_reviewer', studyId: null }]));
  const opened = [
    await world.as(researcher, 'POST', '/api/v1/studies', { ...studyInput(studyId), holdBeforeUploadHours: 0 }),
    await world.as(researcher, 'POST', `/api/v1/studies/${studyId}/versions/1/submit`),
    await world.as(reviewer, 'POST', `/api/v1/studies/${studyId}/versions/1/approve`, { reason: 'scope reviewed' }),
    await world.as(researcher, 'POST', `/api/v1/studies/${studyId}/open`),
  ];
  for (const response of opened) expect(response.statusCode, response.body).toBeLessThan(300);
  // The aggregator makes the study's sealing key on its first pass; devices pair after that.
  expect(world.aggregator.runOnce().studyKeysPublished).toBe(1);
  const participant = await world.signIn(world.person('pat', [{ role: 'participant', studyId: null }]));
  expect((await world.as(participant, 'POST', `/api/v1/studies/${studyId}/enroll`)).statusCode).toBe(200);

  return {
    world,
    url,
    studyId,
    participant,
    researcher,
    reviewer,
    serverKeyId: loadOrCreateServerKeys(world.serverKeyFile).current.keyId,
    ingestStatuses,
    ingestRefusals,
    async pairingCode() {
      const response = await world.as(participant, 'POST', `/api/v1/studies/${studyId}/pairing-codes`);
      expect(response.statusCode).toBe(201);
      return response.json<{ code: string }>().code;
    },
    onStored(next) {
      hook = next;
    },
    windowsIn(envelope, devicePublicKey) {
      const studyKey = loadOrCreateAggregatorKeys(world.aggregatorKeyFile).studyKeys.get(envelope.header.recipientKeyId);
      if (studyKey?.studyId !== studyId) throw new Error('no study key');
      return UploadBatch.parse(JSON.parse(fromUtf8(openEnvelope(envelope, devicePublicKey, studyKey)))).windows;
    },
    setClockOffset(ms) {
      offsetMs = ms;
    },
    close: () => world.close(),
  };
}

export type DaemonProcess = { child: ChildProcess; client: ControlClient; exited: Promise<void>; kill(): Promise<void> };

/** Starts `candor daemon` on `dataDir`, logging to `logFile`, and connects once it answers. */
/** A client of the daemon on `dataDir` once it answers; `check` runs before each try, to fail at once (a daemon that exited). */
export async function connectWhenAnswering(dataDir: string, check: () => void = () => undefined): Promise<ControlClient> {
  let client: ControlClient | undefined;
  await waitFor(
    async () => {
      check();
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
  return client;
}

export async function startDaemonProcess(dataDir: string, logFile: string, extraArgs: readonly string[] = []): Promise<DaemonProcess> {
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, [CANDOR, 'daemon', '--data-dir', dataDir, '--source', `replay:${CODING}`, ...extraArgs], { stdio: ['ignore', log, log] });
  closeSync(log);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => { resolve(); });
  });
  const connected = await connectWhenAnswering(dataDir, () => {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the daemon exited (${String(child.exitCode ?? child.signalCode)}); see ${logFile}`);
  });
  return {
    child,
    client: connected,
    exited,
    async kill() {
      connected.close();
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The code an agent call was refused with, or 'accepted'; anything but a coded refusal is rethrown. */
export async function refusal(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    if (error instanceof CandorError) return error.code;
    throw error;
  }
  return 'accepted';
}

export type CliRun = { code: number; stdout: string; stderr: string };

/** Runs `candor COMMAND --data-dir D ARGS…` as a participant would, and resolves with its exit code and output. */
export function runCandor(dataDir: string, command: string, ...args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CANDOR, command, '--data-dir', dataDir, ...args], { encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
    });
  });
}

export type AgentBeside = {
  server: PairingServer;
  daemon: DaemonProcess;
  /** A temporary directory holding the data dir and the daemon's log, removed by `close`. */
  root: string;
  dataDir: string;
  close: () => Promise<void>;
};

/**
 * A real server with `studyId` open (startPairingServer) and a `candor daemon` beside it on a
 * fresh data dir, logging to `daemon.log` in `root`; with `pair`, paired with the server through
 * `candor pair` (pinned to its published key), and with `enroll` also consented through `candor enroll`.
 */
export async function startAgentBeside(studyId: string, steps: { pair?: boolean; enroll?: boolean } = {}): Promise<AgentBeside> {
  const server = await startPairingServer(studyId);
  const root = mkdtempSync(join(tmpdir(), 'candor-agent-'));
  const dataDir = join(root, 'data');
  let daemon: DaemonProcess | undefined;
  const close = async (): Promise<void> => {
    await daemon?.kill();
    await server.close();
    rmSync(root, { recursive: true, force: true });
  };
  try {
    daemon = await startDaemonProcess(dataDir, join(root, 'daemon.log'));
    if (steps.pair === true || steps.enroll === true) {
      const paired = await runCandor(dataDir, 'pair', '--server', server.url, '--study', studyId, `--server-key=${server.serverKeyId}`, await server.pairingCode());
      expect(paired.code, paired.stderr).toBe(0);
    }
    if (steps.enroll === true) {
      const enrolled = await runCandor(dataDir, 'enroll', studyId, '--yes');
      expect(enrolled.code, enrolled.stderr).toBe(0);
    }
    return { server, daemon, root, dataDir, close };
  } catch (error) {
    // A setup that failed leaves no daemon or server behind for the suite's next files.
    await close();
    throw error;
  }
}
