/**
 * The control socket as an attacker or a broken client meets it: the file is the owner's only,
 * in a directory that is the owner's only; garbage, unknown methods, bad params and oversized
 * lines get coded errors and the daemon keeps serving. Uses the replay source: nothing here
 * needs the hook.
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon } from '../../agent/src/daemon/daemon.ts';
import { MAX_LINE_BYTES } from '../../agent/src/control/server.ts';
import { startTestAgent, type TestAgent } from '../support/agent.ts';

const CODING = new URL('../../seeds/recordings/coding.jsonl', import.meta.url).pathname;
const replay = { source: { kind: 'replay' as const, file: CODING } };

let agent: TestAgent | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

/** A raw connection that sends bytes and reads answers line by line. */
function rawClient(socketPath: string): Promise<{ send(data: string | Uint8Array): void; next(): Promise<unknown>; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    const lines: string[] = [];
    const waiting: ((line: string) => void)[] = [];
    createInterface({ input: socket }).on('line', (line) => {
      const waiter = waiting.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    });
    socket.once('error', reject);
    socket.once('connect', () => {
      resolve({
        socket,
        send: (data) => socket.write(data),
        next: () =>
          new Promise((done) => {
            const line = lines.shift();
            if (line !== undefined) done(JSON.parse(line));
            else waiting.push((text) => { done(JSON.parse(text)); });
          }),
      });
    });
  });
}

describe('the control socket', () => {
  it('is a socket only its owner can read or write, in a directory only its owner can enter', async () => {
    agent = await startTestAgent(replay);
    expect(statSync(agent.daemon.socketPath).mode & 0o777).toBe(0o600);
    expect(statSync(agent.dataDir).mode & 0o777).toBe(0o700);
    await agent.enroll();
    const files = readdirSync(agent.dataDir, { withFileTypes: true }).filter((entry) => entry.isFile());
    expect(files.map((entry) => entry.name)).toEqual(expect.arrayContaining(['receipts.jsonl', 'session.json', 'transitions.jsonl']));
    for (const file of files) expect(statSync(join(agent.dataDir, file.name)).mode & 0o777, file.name).toBe(0o600);
  });

  it('refuses to start in a directory that others can enter', async () => {
    const root = mkdtempSync(join(tmpdir(), 'candor-unsafe-'));
    try {
      chmodSync(root, 0o755);
      await expect(startDaemon({ dataDir: root, log: pino({ level: 'silent' }), ...replay })).rejects.toMatchObject({ code: 'control.unsafe-directory' });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuses to start a second agent on the same socket, having changed nothing, and the first keeps serving', async () => {
    agent = await startTestAgent(replay);
    await agent.enroll();
    await agent.client.call('start', {});
    const files = (): Record<string, string> =>
      Object.fromEntries(readdirSync(agent?.dataDir ?? '').filter((name) => name.endsWith('.json') || name.endsWith('.jsonl')).map((name) => [name, readFileSync(join(agent?.dataDir ?? '', name), 'utf8')]));
    const before = files();
    await expect(startDaemon({ dataDir: agent.dataDir, log: pino({ level: 'silent' }), ...replay })).rejects.toMatchObject({ code: 'daemon.already-running' });
    // A second daemon used to open the journal first, and record the running session as stopped by a restart.
    expect(files()).toEqual(before);
    expect(await agent.client.call('ping', {})).toEqual({ ok: true });
    expect((await agent.client.call('status', {})).state).toBe('running');
  });

  it.each([
    ['a line that is not JSON', 'hello\n', 'control.not-json'],
    ['JSON that is not a request', '[1,2,3]\n', 'validation'],
    ['a request with extra fields', '{"id":1,"method":"status","sudo":true}\n', 'validation'],
    ['an unknown method', '{"id":2,"method":"rm -rf","params":{}}\n', 'control.unknown-method'],
    ['a method name from Object.prototype', '{"id":3,"method":"constructor","params":{}}\n', 'control.unknown-method'],
    ['params of the wrong shape', '{"id":4,"method":"pause","params":{"for":"a while"}}\n', 'validation'],
    ['a path as a study id', '{"id":5,"method":"enroll","params":{"studyId":"../../etc/passwd","noticeHash":"00"}}\n', 'validation'],
    ['invalid UTF-8', Uint8Array.from([0xff, 0xfe, 0x7b, 0x0a]), 'control.not-json'],
  ])('answers %s with a coded error and keeps serving', async (_, garbage, code) => {
    agent = await startTestAgent(replay);
    const raw = await rawClient(agent.daemon.socketPath);
    raw.send(garbage);
    expect(await raw.next()).toMatchObject({ ok: false, error: { code } });
    raw.send('{"id":9,"method":"ping"}\n');
    expect(await raw.next()).toEqual({ id: 9, ok: true, result: { ok: true } });
    raw.socket.destroy();
    expect(await agent.client.call('status', {})).toMatchObject({ state: 'not-enrolled' });
  });

  it('does not echo what it was sent in its errors', async () => {
    agent = await startTestAgent(replay);
    const raw = await rawClient(agent.daemon.socketPath);
    raw.send('{"id":1,"method":"enroll","params":{"studyId":"CANARY-hunter2","noticeHash":"CANARY-hunter2","CANARY-key":1}}\n');
    const answer = JSON.stringify(await raw.next());
    expect(answer).toMatch(/"ok":false/);
    expect(answer).not.toMatch(/CANARY|hunter2/);
    raw.socket.destroy();
  });

  it('cuts off a client that sends an endless line, and keeps serving others', async () => {
    agent = await startTestAgent(replay);
    const raw = await rawClient(agent.daemon.socketPath);
    const closed = new Promise((resolve) => raw.socket.once('close', resolve));
    raw.send('{"id":1,"method":"status","params":{"x":"' + 'a'.repeat(MAX_LINE_BYTES + 10));
    expect(await raw.next()).toMatchObject({ ok: false, error: { code: 'control.too-long' } });
    await closed;
    expect(await agent.client.call('ping', {})).toEqual({ ok: true });
  });

  it('pushes status changes to subscribers only', async () => {
    agent = await startTestAgent(replay);
    const subscriber = await rawClient(agent.daemon.socketPath);
    subscriber.send('{"id":1,"method":"subscribe"}\n');
    expect(await subscriber.next()).toMatchObject({ id: 1, ok: true });
    await agent.enroll();
    expect(await subscriber.next()).toMatchObject({ event: 'status', status: { state: 'enrolled', capturing: false } });
    await agent.client.call('start', {});
    expect(await subscriber.next()).toMatchObject({ event: 'status', status: { state: 'running', capturing: true } });
    subscriber.socket.destroy();
  });

  it('refuses consent given to a notice that is not the current one', async () => {
    agent = await startTestAgent(replay);
    const stale = await agent.client.call('notice', { studyId: 'coding-practice' });
    agent.publish({ version: 2, retentionDays: 180 });
    await expect(agent.client.call('enroll', { studyId: 'coding-practice', noticeHash: stale.noticeHash })).rejects.toMatchObject({ code: 'consent.notice-changed' });
    expect(await agent.client.call('status', {})).toMatchObject({ state: 'not-enrolled' });
  });
});
