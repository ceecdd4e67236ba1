/**
 * The `candor` command as a person runs it: a real daemon process (`candor daemon`, replaying a
 * recording so no X server is needed) driven by separate `candor` processes. Checks the
 * documented exit codes and that no error shows a stack trace.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStatus } from '@candor/shared/schemas/control';
import { parseUnknown } from '@candor/shared/validation';
import { waitFor } from '../support/wait.ts';

const BIN = new URL('../../agent/bin/candor.js', import.meta.url).pathname;
const RECORDING = new URL('../../seeds/recordings/coding.jsonl', import.meta.url).pathname;
const STUDIES = new URL('../../seeds/studies', import.meta.url).pathname;

type Run = { code: number; stdout: string; stderr: string };

function candor(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
    });
  });
}

function expectNoStackTrace(run: Run): void {
  expect(run.stderr).not.toMatch(/^\s+at /m);
  expect(run.stderr.trim().split('\n').length).toBeLessThanOrEqual(2);
}

let root: string;
let dataDir: string;
let daemon: ChildProcess;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'candor-cli-'));
  dataDir = join(root, 'data');
  daemon = spawn(process.execPath, [BIN, 'daemon', '--data-dir', dataDir, '--source', `replay:${RECORDING}`, '--studies', STUDIES], { stdio: 'ignore' });
  await waitFor(() => existsSync(join(dataDir, 'agent.sock')), 'the daemon to listen', 20_000);
});

afterAll(() => {
  if (daemon.exitCode === null) daemon.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

describe('the candor CLI', () => {
  it('says no agent is running, with exit code 3, when none is', async () => {
    const run = await candor('status', '--data-dir', join(root, 'nowhere'));
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/no Candor agent is listening .* candor daemon/);
    expectNoStackTrace(run);
  });

  it.each([
    ['an unknown command', ['frobnicate']],
    ['an unexpected argument', ['start', 'now']],
    ['an unknown option', ['status', '--verbose']],
    ['a missing option value', ['pause', '--for']],
  ])('rejects %s with exit code 2 and the usage', async (_, args) => {
    const run = await candor(...args, '--data-dir', dataDir);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/[Uu]sage: candor/);
    expect(run.stderr).not.toMatch(/^\s+at /m);
  });

  it('drives a whole session: refuse before consent, enroll, start, pause, resume, stop, withdraw', async () => {
    const refused = await candor('start', '--data-dir', dataDir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/not enrolled in a study/);
    expectNoStackTrace(refused);

    const studies = await candor('studies', '--json', '--data-dir', dataDir);
    expect(JSON.parse(studies.stdout)).toEqual([expect.objectContaining({ studyId: 'coding-practice', enrolled: false })]);

    const enrolled = await candor('enroll', 'coding-practice', '--yes', '--data-dir', dataDir);
    expect(enrolled.code).toBe(0);
    expect(enrolled.stdout).toMatch(/What is captured, and what never leaves this device/);
    expect(enrolled.stdout).toMatch(/Enrolled in/);

    const started = await candor('start', '--for', '45m', '--json', '--data-dir', dataDir);
    expect(started.code).toBe(0);
    expect(parseUnknown(AgentStatus, JSON.parse(started.stdout))).toMatchObject({ state: 'running', capturing: true });

    const badDuration = await candor('pause', '--for', 'a while', '--data-dir', dataDir);
    expect(badDuration.code).toBe(2);
    expect(badDuration.stderr).toMatch(/duration like 45m/);
    expectNoStackTrace(badDuration);

    await waitFor(async () => {
      const status = await candor('status', '--json', '--data-dir', dataDir);
      return parseUnknown(AgentStatus, JSON.parse(status.stdout)).eventsAccepted > 0;
    }, 'the replayed coding session to be captured', 20_000);

    const paused = await candor('pause', '--for', '20m', '--data-dir', dataDir);
    expect(paused.code).toBe(0);
    expect(paused.stdout).toMatch(/Session paused until .* in 20m/);
    expect(paused.stdout).toMatch(/Capturing: no/);

    expect((await candor('resume', '--data-dir', dataDir)).code).toBe(0);
    const stopped = await candor('stop', '--data-dir', dataDir);
    expect(stopped.stdout).toMatch(/Capturing: no/);

    const history = await candor('history', '--data-dir', dataDir);
    expect(history.stdout).toMatch(/enrolled → running .*session started for 45m/);
    expect(history.stdout).toMatch(/paused → running .*resumed/);

    const withdrawn = await candor('withdraw', 'coding-practice', '--data-dir', dataDir);
    expect(withdrawn.code).toBe(0);
    expect(withdrawn.stdout).toMatch(/Not enrolled/);
  });

  it('stops the daemon cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => daemon.once('exit', resolve));
    daemon.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
