/**
 * The real thing: `candor-server start` listening on 127.0.0.1 with the aggregator as its own
 * process, driven over HTTP the way an agent and a reviewer would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalHash, fromBase64Url, generateSigningKeyPair, randomId, sealEnvelope, toBase64Url } from '../../shared/src/crypto.ts';
import { utf8 } from '../../shared/src/encoding.ts';
import { StudyVersion } from '../../shared/src/schemas/study.ts';
import type { SignedErasureAck } from '../../shared/src/schemas/ingest.ts';
import { signErasureRequest, verifyErasureAck } from '../../shared/src/erasure.ts';
import { consentReceiptFor, keyboardWindow, type Device } from './world.ts';

const CLI = new URL('../../server/src/cli/main.ts', import.meta.url).pathname;

let dir: string;
let server: ChildProcess;
let base: string;
const passwords = new Map<string, string>();
let output = '';

async function call(method: string, path: string, options: { body?: unknown; session?: { cookie: string; csrf: string } } = {}) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(options.session ? { cookie: `candor_session=${options.session.cookie}`, 'x-csrf-token': options.session.csrf } : {}),
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

async function signIn(username: string) {
  const response = await call('POST', '/api/v1/auth/sign-in', { body: { username, password: passwords.get(username) } });
  expect(response.status).toBe(200);
  const cookie = /candor_session=([^;]+)/.exec(response.headers.get('set-cookie') ?? '')?.[1];
  if (!cookie) throw new Error('no cookie');
  return { cookie, csrf: String(response.body.csrfToken) };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'candor-live-'));
  server = spawn(process.execPath, ['--import', 'tsx', CLI, 'start', '--db', join(dir, 'api.db'), '--port', '0', '--demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  server.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  for (let attempt = 0; attempt < 300 && !/listening on (http:\/\/127\.0\.0\.1:\d+)/.test(output); attempt += 1) await sleep(50);
  const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
  if (!match?.[1]) throw new Error(`server did not start: ${output}`);
  base = match[1];
  // The aggregator makes the study's sealing key on its first pass; agents pair after that.
  for (let attempt = 0; attempt < 400 && !output.includes('"studyKeysPublished":1'); attempt += 1) await sleep(50);
  for (const [, name, password] of output.matchAll(/demo account (\w+): password (\S+)/g)) if (name && password) passwords.set(name, password);
});
afterAll(() => {
  if (server.exitCode === null) server.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('candor-server on loopback with a separate aggregator process', () => {
  it('pairs a device, takes its upload, quarantines what is outside the scope, and erases on withdrawal', async () => {
    const participant = await signIn('participant');
    expect((await call('POST', '/api/v1/studies/coding-practice/enroll', { session: participant })).status).toBe(200);
    const code = String((await call('POST', '/api/v1/studies/coding-practice/pairing-codes', { session: participant })).body.code);
    const pair = generateSigningKeyPair();
    const pseudonym = `p_${randomId()}`;
    let paired = await call('POST', '/api/v1/devices/pair', { body: { code, studyId: 'coding-practice', devicePublicKey: toBase64Url(pair.publicKey), pseudonym } });
    // The aggregator creates the study key in its own process; until then pairing answers 503 and the code stays valid.
    for (let attempt = 0; paired.status === 503 && attempt < 100; attempt += 1) {
      await sleep(100);
      paired = await call('POST', '/api/v1/devices/pair', { body: { code, studyId: 'coding-practice', devicePublicKey: toBase64Url(pair.publicKey), pseudonym } });
    }
    expect(paired.status).toBe(201);
    const aggregatorKey = paired.body.aggregatorKey as { keyId: string; publicKey: string };
    const serverKey = paired.body.serverKey as { keyId: string; publicKey: string };
    const study = StudyVersion.parse(paired.body.study);
    expect(paired.body.deviceKeyId).toBe(pair.keyId);
    const device: Device = { pair, pseudonym, studyId: 'coding-practice', aggregatorKey: fromBase64Url(aggregatorKey.publicKey), aggregatorKeyId: aggregatorKey.keyId };
    const consent = await call('POST', '/api/v1/consent-receipts', { body: { receipt: consentReceiptFor(device, study) } });
    expect(consent.status).toBe(201);

    const batchId = canonicalHash({ live: randomId() });
    const payload = { batchId, windows: [{ ...keyboardWindow('coding-practice', 7), smuggled: 'extra field' }] };
    const envelope = sealEnvelope(utf8(JSON.stringify(payload)), { studyId: 'coding-practice', studyVersion: 1, batchId, createdAt: new Date().toISOString() }, device.pair, device.aggregatorKey);
    expect((await call('POST', '/api/v1/ingest', { body: envelope })).status).toBe(201);

    const reviewer = await signIn('reviewer');
    let reasons: string[] = [];
    for (let attempt = 0; attempt < 100 && reasons.length === 0; attempt += 1) {
      const entries = (await call('GET', '/api/v1/studies/coding-practice/quarantine', { session: reviewer })).body.entries as { batchId: string; reasons: string[] }[];
      reasons = entries.find((entry) => entry.batchId === batchId)?.reasons ?? [];
      if (reasons.length === 0) await sleep(100);
    }
    expect(reasons.join(' ')).toContain('unknown key');

    const request = { studyId: 'coding-practice', deviceKeyId: device.pair.keyId, requestedAt: new Date().toISOString(), requestId: randomId() };
    const erasure = await call('POST', '/api/v1/erasure', { body: signErasureRequest(request, device.pair) });
    expect(erasure.status).toBe(200);
    expect(() => { verifyErasureAck(erasure.body as SignedErasureAck, request, fromBase64Url(serverKey.publicKey)); }).not.toThrow();
  });

  it('stops with its aggregator on SIGTERM', async () => {
    server.kill('SIGTERM');
    for (let attempt = 0; attempt < 100 && server.exitCode === null; attempt += 1) await sleep(50);
    expect(server.exitCode).toBe(0);
    const aggregatorPid = Number(/"pid":(\d+)[^\n]*"name":"aggregator"/.exec(output)?.[1]);
    expect(aggregatorPid).toBeGreaterThan(0);
    let alive = true;
    for (let attempt = 0; attempt < 100 && alive; attempt += 1) {
      try {
        process.kill(aggregatorPid, 0);
        await sleep(50);
      } catch {
        alive = false;
      }
    }
    expect(alive).toBe(false);
  });
});
