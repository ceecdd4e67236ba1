/**
 * The `candor` launcher runs the agent as built JavaScript and never runs it stale: a missing
 * build is made, a changed source is rebuilt before it runs, and sources that do not build give a
 * clear error and exit 70, never a stack trace. Run against a copy of the agent's sources (with
 * the checkout's node_modules), so breaking a source here cannot break anything else running.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const COPIED = ['agent', 'shared', 'seeds', 'package.json', 'package-lock.json', 'tsconfig.json'];

let root: string;

type Run = { code: number; stdout: string; stderr: string };

function candor(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(root, 'agent', 'bin', 'candor.js'), ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

const manifest = (): { startedAt: number; inputs: string[] } => JSON.parse(readFileSync(join(root, 'agent', 'dist', 'build.json'), 'utf8')) as { startedAt: number; inputs: string[] };
const DAEMON_COMMAND = (): string => join(root, 'agent', 'src', 'cli', 'daemon-command.ts');

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'candor-build-'));
  for (const entry of COPIED) {
    cpSync(join(REPO, entry), join(root, entry), { recursive: true, filter: (source) => !source.includes(join('agent', 'dist')) && !source.includes('node_modules') });
  }
  symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'), 'dir');
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('the candor launcher', () => {
  it('builds the agent on first use and runs it', async () => {
    const run = await candor('help');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: candor COMMAND');
    expect(manifest().inputs).toContain('agent/src/cli/main.ts');
  });

  it('does not rebuild while nothing it was built from has changed', async () => {
    const before = manifest().startedAt;
    expect((await candor('help')).code).toBe(0);
    expect(manifest().startedAt).toBe(before);
  });

  it('rebuilds before running when a source changed, so the change is what runs', async () => {
    const before = manifest().startedAt;
    const file = DAEMON_COMMAND();
    writeFileSync(file, readFileSync(file, 'utf8').replace(/summary: '[^']+'/, "summary: 'freshly rebuilt daemon summary'"));
    // A source saved during the same millisecond as the last build still counts as changed.
    const now = new Date();
    utimesSync(file, now, now);
    const run = await candor('help');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('freshly rebuilt daemon summary');
    expect(manifest().startedAt).toBeGreaterThan(before);
  });

  it('refuses to run sources that do not build: exit 70, the reason, and no stack trace', async () => {
    const file = DAEMON_COMMAND();
    writeFileSync(file, `${readFileSync(file, 'utf8')}\nexport const broken = ;\n`);
    const run = await candor('help');
    expect(run.code).toBe(70);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain("the agent's sources do not build");
    expect(run.stderr).not.toMatch(/^\s+at /m);
  });
});
