/**
 * `candor-server start` prints the id of the key it signs with, so an organisation can publish
 * it and agents pin it (`candor pair --server-key`). The id printed is the one the server's
 * public checkpoint names and the one in its key file: the key it really signs with.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverPaths } from '../../server/src/cli/paths.ts';
import { loadOrCreateServerKeys } from '../../server/src/keys/files.ts';

const CLI = new URL('../../server/src/cli/main.ts', import.meta.url).pathname;
const PRINTED = /server signing key id: ([A-Za-z0-9_-]{22}) \(publish it; participants pass it as candor pair --server-key=\1, with the = since an id may begin with -\)/;

let dir: string;
let server: ChildProcess;
let output = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'candor-key-id-'));
  server = spawn(process.execPath, ['--import', 'tsx', CLI, 'start', '--db', join(dir, 'api.db'), '--port', '0', '--no-aggregator'], { stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  server.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  for (let attempt = 0; attempt < 600 && !PRINTED.test(output); attempt += 1) await sleep(50);
});
afterAll(async () => {
  if (server.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('candor-server start', () => {
  it('prints the id of the key it signs with, the one its public checkpoint names', async () => {
    const printed = PRINTED.exec(output)?.[1];
    expect(printed, output).toBeDefined();
    expect(printed).toBe(loadOrCreateServerKeys(serverPaths(join(dir, 'api.db')).serverKeyFile).current.keyId);
    const base = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1] ?? '';
    const checkpoint = (await (await fetch(`${base}/api/v1/audit/checkpoint`)).json()) as { checkpoint: { serverKeyId: string } };
    expect(checkpoint.checkpoint.serverKeyId).toBe(printed);
  });
});
