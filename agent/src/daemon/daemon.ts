/**
 * `candor daemon`: the one process that owns the input hook. It opens the agent's state,
 * listens on the control socket, and pushes every status change to subscribers.
 */
import { pino, type Logger } from 'pino';
import { CandorError } from '@candor/shared/errors';
import { createLiveSource } from '../capture/live.ts';
import { readRecording } from '../capture/recording.ts';
import { createReplaySource } from '../capture/replay.ts';
import type { CaptureSink, InputSource } from '../capture/source.ts';
import { createFileStudyCatalog } from '../consent/catalog.ts';
import { startControlServer, ensurePrivateDirectory } from '../control/server.ts';
import { createAgent, type Agent } from './agent.ts';
import { systemClock, type Clock } from './clock.ts';
import { SEED_STUDIES_DIR, agentPaths } from './paths.ts';

export type SourceChoice = { kind: 'live' } | { kind: 'replay'; file: string; speed?: number };

export type DaemonOptions = {
  dataDir?: string;
  studiesDir?: string;
  source?: SourceChoice;
  /** The server to pair with; recorded only until the server issue lands. */
  serverUrl?: string;
  clock?: Clock;
  log?: Logger;
  /** Where filtered batches go; until redaction is wired in, a sink that keeps nothing. */
  sink?: CaptureSink;
  batchMs?: number;
  /** How often study files are re-read, so a new version stops capture without a command. */
  catalogRefreshMs?: number;
};

export type RunningDaemon = { agent: Agent; socketPath: string; source: InputSource; close(): Promise<void> };

/** Until the redaction step is wired in: batches are counted by capture and kept nowhere. */
const discardingSink: CaptureSink = { accept: () => undefined };

async function sourceFor(choice: SourceChoice): Promise<InputSource> {
  if (choice.kind === 'live') return createLiveSource();
  return createReplaySource(readRecording(choice.file), choice.speed === undefined ? {} : { speed: choice.speed });
}

/**
 * @throws CandorError when the data or socket directory is unsafe, another agent runs on
 * the socket, the recording is unreadable, or the state files are damaged.
 */
export async function startDaemon(options: DaemonOptions = {}): Promise<RunningDaemon> {
  const log = options.log ?? pino({ name: 'candor-agent' });
  const paths = agentPaths(options.dataDir);
  ensurePrivateDirectory(paths.dataDir);
  if (options.serverUrl !== undefined && !/^https:\/\/|^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/.test(options.serverUrl)) {
    throw new CandorError('daemon.insecure-server', 'the server URL must use https (plain http only to this machine)');
  }
  const source = await sourceFor(options.source ?? { kind: 'live' });
  const agent = createAgent({
    dataDir: paths.dataDir,
    catalog: createFileStudyCatalog(options.studiesDir ?? SEED_STUDIES_DIR),
    source,
    sink: options.sink ?? discardingSink,
    clock: options.clock ?? systemClock,
    log,
    ...(options.batchMs === undefined ? {} : { batchMs: options.batchMs }),
  });
  let server;
  try {
    server = await startControlServer(paths.socketPath, agent.handlers, log);
  } catch (error) {
    agent.close();
    throw error;
  }
  const clock = options.clock ?? systemClock;
  const unsubscribe = agent.onStatus((status) => {
    server.broadcast(status, clock.now());
  });
  const refresher = setInterval(() => {
    agent.refresh();
  }, options.catalogRefreshMs ?? 30_000);
  refresher.unref();
  log.info({ source: source.kind, socket: paths.socketPath, server: options.serverUrl ?? null }, 'agent listening');
  return {
    agent,
    socketPath: paths.socketPath,
    source,
    async close() {
      clearInterval(refresher);
      unsubscribe();
      agent.close();
      await server.close();
    },
  };
}
