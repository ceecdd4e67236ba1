/**
 * Two `candor daemon` processes started at the same instant on one data dir, as a login
 * script and a person at a terminal might: both find nobody listening on the socket, so the
 * socket cannot be what refuses one of them. Exactly one must run; the other must say so, exit 4, and
 * do so before it opens the journal, the keys or the store. Each round starts from a daemon
 * killed with SIGKILL in a running session, so the lock it held must not outlive it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../agent/src/cli/output.ts';
import type { ControlClient } from '../../agent/src/control/client.ts';
import { CANDOR, CODING, LIVENESS_MS, connectWhenAnswering, startDaemonProcess } from './paired-agent.ts';
const ROUNDS = 6;

type Started = { child: ChildProcess; stderr: () => string; exit: Promise<number | null> };

let root: string;
let dataDir: string;
const children = new Set<ChildProcess>();

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'candor-two-'));
  dataDir = join(root, 'data');
});

afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
  rmSync(root, { recursive: true, force: true });
});

function startCandorDaemon(): Started {
  const child = spawn(process.execPath, [CANDOR, 'daemon', '--data-dir', dataDir, '--source', `replay:${CODING}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code); }));
  return { child, stderr: () => stderr, exit };
}

/** Lines of the session history that record a session stopped because the agent restarted. */
function restartStops(): number {
  return readFileSync(join(dataDir, 'transitions.jsonl'), 'utf8').split('\n').filter((line) => line.includes('the agent restarted')).length;
}

async function startSession(client: ControlClient): Promise<void> {
  const study = 'coding-practice';
  const status = await client.call('status', {});
  if (status.state === 'not-enrolled') {
    const notice = await client.call('notice', { studyId: study });
    await client.call('enroll', { studyId: study, noticeHash: notice.noticeHash });
  }
  await client.call('start', {});
}

describe('two daemons started at once on one data dir', () => {
  it('run one, refuse the other before it touches the data dir, and leave no lock behind a SIGKILL', async () => {
    const first = await startDaemonProcess(dataDir, join(root, 'first.log'));
    await startSession(first.client);
    await first.kill();

    for (let round = 1; round <= ROUNDS; round += 1) {
      const stopsBefore = restartStops();
      const pair = [startCandorDaemon(), startCandorDaemon()];
      const loser = await Promise.race(pair.map(async (started) => (await started.exit, started)));
      const winner = pair.find((started) => started !== loser);
      if (!winner) throw new Error('no winner');
      expect(await loser.exit, `round ${String(round)}: ${loser.stderr()}`).toBe(EXIT.daemonFailed);
      expect(loser.stderr()).toMatch(/another Candor agent is running with the data dir|already listens/);
      expect(loser.stderr()).not.toMatch(/^\s+at /m);

      const client = await connectWhenAnswering(dataDir);
      expect(winner.child.exitCode).toBeNull();
      // The session the killed daemon left running was stopped once, by the daemon that runs.
      expect(restartStops()).toBe(stopsBefore + 1);
      expect((await client.call('status', {})).state).toBe('stopped');

      await startSession(client);
      client.close();
      winner.child.kill('SIGKILL');
      await winner.exit;
    }
  }, ROUNDS * 2 * LIVENESS_MS);
});
