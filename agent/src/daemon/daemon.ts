/**
 * `candor daemon`: the one process that owns the input hook. It opens the agent's state and
 * its encrypted store and its pairing, runs the uploader once paired, listens on the control
 * socket, and pushes every status change to subscribers.
 */
import { pino, type Logger } from 'pino';
import { wipe } from '@candor/shared/crypto';
import { createLiveSource } from '../capture/live.ts';
import { readRecording } from '../capture/recording.ts';
import { createReplaySource } from '../capture/replay.ts';
import type { InputSource } from '../capture/source.ts';
import { createFileStudyCatalog } from '../consent/catalog.ts';
import { assertNoAgentListening, startControlServer, ensurePrivateDirectory } from '../control/server.ts';
import { createAgent, type Agent } from './agent.ts';
import { systemClock, type Clock } from './clock.ts';
import { checkServerUrl } from '../pair/server-api.ts';
import type { UploadTarget } from '../pair/pairing.ts';
import { Collector } from './collector.ts';
import { lockDataDir } from './lock.ts';
import { SEED_POLICIES_DIR, SEED_STUDIES_DIR, agentPaths, type AgentPaths } from './paths.ts';

export type SourceChoice = { kind: 'live' } | { kind: 'replay'; file: string; speed?: number };

export type DaemonOptions = {
  dataDir?: string;
  studiesDir?: string;
  /** Where redaction policies are read from (default: the ones shipped in seeds/policies). */
  policiesDir?: string;
  source?: SourceChoice;
  /**
   * A fixed upload target, for embedding the daemon beside a server that has no pairing route
   * (the ingest contract double in tests). People pair instead (`candor pair`); without
   * either, nothing leaves the device.
   */
  upload?: UploadTarget;
  clock?: Clock;
  log?: Logger;
  batchMs?: number;
  /** How often ended windows are closed and stored. */
  closeWindowsEveryMs?: number;
  /** How often study files are re-read, so a new version stops capture without a command. */
  catalogRefreshMs?: number;
  /** How often a paired agent asks its server for the current study versions. */
  studyCheckMs?: number;
};

const DEFAULT_STUDY_CHECK_MS = 10 * 60_000;

export type RunningDaemon = {
  agent: Agent;
  socketPath: string;
  source: InputSource;
  /** The study's device public key, which pairing registers with the server. */
  devicePublicKey(studyId: string): Uint8Array;
  close(): Promise<void>;
};

async function sourceFor(choice: SourceChoice): Promise<InputSource> {
  if (choice.kind === 'live') return createLiveSource();
  return createReplaySource(readRecording(choice.file), choice.speed === undefined ? {} : { speed: choice.speed });
}

/**
 * @throws CandorError when the data or socket directory is unsafe, a fixed upload target is
 * not https (or loopback http), another agent runs on the data dir or the socket, the recording is
 * unreadable, or the state files, the pairing record or the store are damaged
 * (`store.corrupt`, `store.keys-lost`, `pairing.unreadable`…).
 */
export async function startDaemon(options: DaemonOptions = {}): Promise<RunningDaemon> {
  const log = options.log ?? pino({ name: 'candor-agent' });
  const paths = agentPaths(options.dataDir);
  ensurePrivateDirectory(paths.dataDir);
  // Before anything is opened: a second daemon on a live data dir must change nothing there
  // (no key moved, no session stopped in the journal) before it is refused.
  const lock = await lockDataDir(paths.dataDir);
  try {
    return await startLocked(options, paths, log, () => { lock.release(); });
  } catch (error) {
    lock.release();
    throw error;
  }
}

async function startLocked(options: DaemonOptions, paths: AgentPaths, log: Logger, unlock: () => void): Promise<RunningDaemon> {
  await assertNoAgentListening(paths.socketPath);
  const upload = options.upload ?? null;
  if (upload) checkServerUrl(upload.serverUrl);
  const clock = options.clock ?? systemClock;
  const source = await sourceFor(options.source ?? { kind: 'live' });
  let agent: Agent | undefined;
  const collector = new Collector({
    dataDir: paths.dataDir,
    policiesDir: options.policiesDir ?? SEED_POLICIES_DIR,
    clock,
    log,
    upload,
    mayUpload: (studyId) => agent?.mayUpload(studyId) ?? false,
    // The study check brings the current sealing key; the refused batch waits for it.
    onStaleStudyKey: () => void agent?.checkServer(),
    // Subscribers (the tray) learn of windows leaving, and of a server refusing them, as it happens.
    onStorageChanged: () => agent?.refresh(),
    ...(options.closeWindowsEveryMs === undefined ? {} : { closeEveryMs: options.closeWindowsEveryMs }),
  });
  let server;
  let storage;
  try {
    agent = createAgent({
      dataDir: paths.dataDir,
      catalog: createFileStudyCatalog(options.studiesDir ?? SEED_STUDIES_DIR),
      source,
      collector,
      clock,
      log,
      ...(options.batchMs === undefined ? {} : { batchMs: options.batchMs }),
    });
    // Read before the socket opens: nothing after it may fail and leave it open.
    storage = collector.storage();
    server = await startControlServer(paths.socketPath, agent.handlers, log);
  } catch (error) {
    agent?.close();
    await collector.close();
    throw error;
  }
  const running = agent;
  const unsubscribe = running.onStatus((status) => {
    // Consent ended (expiry, a new study version): uploads stop at once, not at the next pass.
    if (status.study) {
      if (running.mayUpload(status.study.studyId)) collector.resume(status.study.studyId);
      else collector.halt(status.study.studyId);
    }
    server.broadcast(status, clock.now());
  });
  const refresher = setInterval(() => {
    running.refresh();
  }, options.catalogRefreshMs ?? 30_000);
  refresher.unref();
  // Once paired, a new version approved on the server stops capture within this period, even
  // when nobody runs a command.
  const checker = setInterval(() => {
    void running.checkServer();
  }, options.studyCheckMs ?? DEFAULT_STUDY_CHECK_MS);
  checker.unref();
  void running.checkServer();
  log.info({ source: source.kind, socket: paths.socketPath, server: storage.uploadsTo, keys: storage.keyBackend.kind }, 'agent listening');
  return {
    agent: running,
    devicePublicKey(studyId) {
      const pair = collector.deviceKey(studyId);
      wipe(pair.secretKey);
      return pair.publicKey;
    },
    socketPath: paths.socketPath,
    source,
    async close() {
      clearInterval(refresher);
      clearInterval(checker);
      unsubscribe();
      // Each part is closed whatever the one before it threw, and the data dir let go last.
      try {
        running.close();
        await server.close();
      } finally {
        try {
          await collector.close();
        } finally {
          unlock();
        }
      }
    },
  };
}
