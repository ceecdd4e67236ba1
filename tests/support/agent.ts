/**
 * A real agent daemon for tests: its own data dir and studies dir under the OS temp dir, a real
 * control socket, and a connected client. Study files are written from the seed study with
 * changes, so a test can publish a new version or a different app list.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { StudyVersionInput } from '@candor/shared/schemas/study';
import { ControlClient } from '../../agent/src/control/client.ts';
import { startDaemon, type DaemonOptions, type RunningDaemon } from '../../agent/src/daemon/daemon.ts';

export const SEED_STUDY = JSON.parse(
  readFileSync(new URL('../../seeds/studies/coding-practice.v1.json', import.meta.url), 'utf8'),
) as StudyVersionInput;

export type TestAgent = {
  readonly daemon: RunningDaemon;
  readonly client: ControlClient;
  readonly dataDir: string;
  readonly studiesDir: string;
  /** Publishes a study version (the seed study with these changes). */
  publish(changes?: Partial<StudyVersionInput>): void;
  /** Reads the notice and consents to it, as `candor enroll --yes` does. */
  enroll(studyId?: string): Promise<void>;
  /** Stops this daemon and starts another on the same data dir (a restart); `between` runs while none is running. */
  restart(between?: () => void): Promise<void>;
  close(): Promise<void>;
};

export type TestAgentOptions = Omit<DaemonOptions, 'dataDir' | 'studiesDir' | 'log'>;

export async function startTestAgent(options: TestAgentOptions = {}, study: Partial<StudyVersionInput> = {}): Promise<TestAgent> {
  const root = mkdtempSync(join(tmpdir(), 'candor-agent-'));
  const dataDir = join(root, 'data');
  const studiesDir = mkdtempSync(join(root, 'studies-'));
  const publish = (changes: Partial<StudyVersionInput> = {}): void => {
    const version = { ...SEED_STUDY, ...study, ...changes };
    writeFileSync(join(studiesDir, `${version.studyId}.v${version.version}.json`), JSON.stringify(version));
  };
  publish();
  const open = async (): Promise<{ daemon: RunningDaemon; client: ControlClient }> => {
    const daemon = await startDaemon({ dataDir, studiesDir, log: pino({ level: process.env.CANDOR_TEST_LOG ?? 'silent' }), batchMs: 100, catalogRefreshMs: 3_600_000, ...options });
    return { daemon, client: await ControlClient.connect({ socketPath: daemon.socketPath }) };
  };
  let current = await open();
  return {
    get daemon() {
      return current.daemon;
    },
    get client() {
      return current.client;
    },
    dataDir,
    studiesDir,
    publish,
    async enroll(studyId = SEED_STUDY.studyId) {
      const notice = await current.client.call('notice', { studyId });
      await current.client.call('enroll', { studyId, noticeHash: notice.noticeHash });
    },
    async restart(between) {
      current.client.close();
      await current.daemon.close();
      between?.();
      current = await open();
    },
    async close() {
      current.client.close();
      await current.daemon.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
