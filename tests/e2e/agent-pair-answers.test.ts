/**
 * The agent keeps only what it can check. A server on loopback that answers pairing and
 * consent the way a broken or hostile server might — another study, a key id that is not
 * its key's, another signing key than the one the participant was given, a countersignature
 * by another key or over a changed receipt, a redirect, a certificate nobody trusts — gets
 * a coded refusal, and the agent keeps no pairing and records no consent. Each table has the
 * honest answer as its control, which the agent accepts.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countersignReceipt, signStudyAnswer, type StudyAnswer } from '@candor/shared/consent';
import { generateSealingKeyPair, generateSigningKeyPair, keyIdOf, toBase64Url, type SigningKeyPair } from '@candor/shared/crypto';
import { AuditCheckpoint, auditCheckpointVerifies, signAuditCheckpoint } from '@candor/shared/audit-checkpoint';
import { endorseServerKey, type ServerKeyEndorsement } from '@candor/shared/endorsement';
import { ConsentReceipt } from '@candor/shared/schemas/consent';
import { StudyVersion } from '@candor/shared/schemas/study';
import { ControlClient } from '../../agent/src/control/client.ts';
import { startDaemon, type RunningDaemon } from '../../agent/src/daemon/daemon.ts';
import { openKeyRing } from '../../agent/src/keys/keyring.ts';
import { NEWEST_CHECKPOINT_FILE } from '../../agent/src/pair/checkpoints.ts';
import { PAIRING_FILE, PAIRING_SECRET_SLOT, readPairingRecord } from '../../agent/src/pair/record.ts';
import { openStore } from '../../agent/src/store/store.ts';
import { SEED_STUDY } from '../support/agent.ts';
import { waitFor } from '../support/wait.ts';
import { CODING, refusal } from './paired-agent.ts';

const STUDY = SEED_STUDY.studyId;
const study = StudyVersion.parse(SEED_STUDY);
const serverKey = generateSigningKeyPair();
const studyKey = generateSealingKeyPair();
const view = (key: { keyId: string; publicKey: Uint8Array }) => ({ keyId: key.keyId, publicKey: toBase64Url(key.publicKey) });

/** A throwaway self-signed certificate for 127.0.0.1 that no system trusts: the TLS case. */
const UNTRUSTED_CERT = `-----BEGIN CERTIFICATE-----
MIIBkDCCATagAwIBAgIUNFmeDJQDeC231lLOaYiIzo1xWsgwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyMzEzMzcyMFoYDzIxMjYxMDMw
MTMzNzIwWjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAATFwdAcqEH5SU1XsmnRDf/6pXQGFgJhq7ITnWTtubSYOE+RNAsV35vm
AiDuT6e33qMSCl44KZt2VcQe3kcNB4pAo2QwYjAdBgNVHQ4EFgQUC3rf8rannZrD
sIhM21lEQzt2aGowHwYDVR0jBBgwFoAUC3rf8rannZrDsIhM21lEQzt2aGowDwYD
VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0gAMEUC
IQDc5SxFhblSJ7YSo64X1ysv1KKDJeRwnVHj0BlflHNOOQIgX92md+Z9/5Islrn0
8jTD5XE8dbLE63oJ4kcvOkrVrik=
-----END CERTIFICATE-----
`;
const UNTRUSTED_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQA6O/Gs0X7EeB5m0
Row2ZOcfsLcm6OBDXY+4FKqp9iihRANCAATFwdAcqEH5SU1XsmnRDf/6pXQGFgJh
q7ITnWTtubSYOE+RNAsV35vmAiDuT6e33qMSCl44KZt2VcQe3kcNB4pA
-----END PRIVATE KEY-----
`;

type Answer = { status: number; body: string; headers?: Record<string, string> };
type Route = (request: unknown) => Answer | Promise<Answer>;

const json = (status: number, body: unknown): Answer => ({ status, body: JSON.stringify(body) });

let root: string;
let daemon: RunningDaemon;
let client: ControlClient;
let server: Server;
let tlsServer: Server;
let url: string;
let tlsUrl: string;
const routes = new Map<string, Route>();
/** Every device key a pairing request offered, in order. */
const offeredKeys: string[] = [];

async function serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
  const route = routes.get(request.url ?? '');
  const text = Buffer.concat(chunks).toString('utf8');
  if (request.url === '/api/v1/devices/pair') offeredKeys.push((JSON.parse(text) as { devicePublicKey: string }).devicePublicKey);
  const answer = route ? await route(text === '' ? undefined : JSON.parse(text)) : json(404, { error: { code: 'not-found' } });
  response.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers }).end(answer.body);
}

async function listen(target: Server): Promise<string> {
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  return String((target.address() as AddressInfo).port);
}

/** The honest answer to a pairing request, with `change` applied. */
function pairAnswer(request: unknown, change: (answer: Record<string, unknown>) => Record<string, unknown> = (answer) => answer): Answer {
  const { devicePublicKey } = request as { devicePublicKey: string };
  const deviceKeyId = keyIdOf(Buffer.from(devicePublicKey, 'base64url'));
  return json(201, change({ deviceKeyId, studyId: STUDY, study, aggregatorKey: view(studyKey), serverKey: view(serverKey) }));
}

/** What the agent kept: a pairing record, consent files, its state. */
async function kept(): Promise<unknown> {
  const file = (name: string): string | null => (existsSync(join(root, name)) ? readFileSync(join(root, name)).toString('base64') : null);
  const status = await client.call('status', {});
  return { pairing: file(PAIRING_FILE), consent: file('consent.json'), receipts: file('receipts.jsonl'), state: status.state, uploadsTo: status.storage.uploadsTo };
}

/** The key that signs the server's public audit checkpoint (and is named in it), asked before a code is sent and at each server check. */
let announcedKey: SigningKeyPair = serverKey;
const announcedCheckpoint = (): Answer => json(200, signAuditCheckpoint({ seq: 0, hash: '0'.repeat(64), signedAt: new Date().toISOString(), serverKeyId: announcedKey.keyId }, announcedKey));

beforeAll(async () => {
  // A server that never rotated: no endorsements.
  routes.set('/api/v1/server-key/endorsements', () => json(200, { endorsements: [] }));
  routes.set('/api/v1/audit/checkpoint', announcedCheckpoint);
  root = mkdtempSync(join(tmpdir(), 'candor-pair-answers-'));
  server = createServer((request, response) => void serve(request, response));
  tlsServer = createTlsServer({ cert: UNTRUSTED_CERT, key: UNTRUSTED_KEY }, (request, response) => void serve(request, response));
  url = `http://127.0.0.1:${await listen(server)}`;
  tlsUrl = `https://127.0.0.1:${await listen(tlsServer)}`;
  daemon = await startDaemon({ dataDir: root, source: { kind: 'replay', file: CODING }, log: pino({ level: 'silent' }), catalogRefreshMs: 3_600_000 });
  client = await ControlClient.connect({ socketPath: daemon.socketPath, timeoutMs: 30_000 });
});

afterAll(async () => {
  client.close();
  await daemon.close();
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  await new Promise<void>((resolve) => tlsServer.close(() => { resolve(); }));
  rmSync(root, { recursive: true, force: true });
});

const CODE = '7K3M-Q9XD-4B2R-HN8C-W1FE';
/** The key the server countersigns with: the one pinned at pairing until the agent follows it to another. */
let signingKey: SigningKeyPair = serverKey;
const other = generateSigningKeyPair();

describe('a pairing answer the agent cannot check', () => {
  it.each<[string, Route, string, string?]>([
    ['names another study', (request) => pairAnswer(request, (answer) => ({ ...answer, studyId: 'another-study', study: { ...study, studyId: 'another-study' } })), 'pair.wrong-study'],
    ['registers another device key', (request) => pairAnswer(request, (answer) => ({ ...answer, deviceKeyId: other.keyId })), 'server.protocol'],
    ['gives a server key id that is not its key\'s', (request) => pairAnswer(request, (answer) => ({ ...answer, serverKey: { keyId: other.keyId, publicKey: toBase64Url(serverKey.publicKey) } })), 'server.protocol'],
    ['gives a sealing key id that is not its key\'s', (request) => pairAnswer(request, (answer) => ({ ...answer, aggregatorKey: { keyId: other.keyId, publicKey: toBase64Url(studyKey.publicKey) } })), 'server.protocol'],
    ['signs with another key than the one the participant was given', (request) => pairAnswer(request, (answer) => ({ ...answer, serverKey: view(other) })), 'pair.server-key-mismatch', serverKey.keyId],
    ['carries a study with a field outside the schema', (request) => pairAnswer(request, (answer) => ({ ...answer, study: { ...study, upload: 'everything' } })), 'server.protocol'],
    ['is not JSON', () => ({ status: 201, body: '<html>welcome</html>' }), 'server.protocol'],
    ['redirects elsewhere', () => ({ status: 302, body: '', headers: { location: 'http://198.51.100.7/api/v1/devices/pair' } }), 'server.redirect'],
    ['is a server error', () => json(500, { error: { code: 'internal' } }), 'server.refused'],
    ['refuses the code', () => json(400, { error: { code: 'pairing.invalid-code' } }), 'pair.invalid-code'],
  ])('%s is refused and nothing is kept', async (_, route, code, serverKeyId) => {
    routes.set('/api/v1/devices/pair', route);
    const before = await kept();
    expect(await refusal(client.call('pair', { serverUrl: url, studyId: STUDY, code: CODE, ...(serverKeyId === undefined ? {} : { serverKeyId }) }))).toBe(code);
    expect(await kept()).toEqual(before);
  });

  it('leaves no device key behind: each attempt after a refused one offers a key the server has not seen', () => {
    expect(offeredKeys.length).toBeGreaterThanOrEqual(8);
    expect(new Set(offeredKeys).size).toBe(offeredKeys.length);
  });

  it('is not asked for when the server names another key than the one the participant was given: the code and the device key stay unused', async () => {
    let reached = false;
    routes.set('/api/v1/devices/pair', (request) => {
      reached = true;
      return pairAnswer(request);
    });
    announcedKey = other;
    const before = await kept();
    try {
      expect(await refusal(client.call('pair', { serverUrl: url, studyId: STUDY, code: CODE, serverKeyId: serverKey.keyId }))).toBe('pair.server-key-mismatch');
    } finally {
      announcedKey = serverKey;
    }
    expect(reached).toBe(false);
    expect(await kept()).toEqual(before);
  });

  it('is refused over TLS the system does not trust, before anything is sent', async () => {
    let reached = false;
    routes.set('/api/v1/devices/pair', (request) => {
      reached = true;
      return pairAnswer(request);
    });
    const before = await kept();
    expect(await refusal(client.call('pair', { serverUrl: tlsUrl, studyId: STUDY, code: CODE }))).toBe('server.tls');
    expect(reached).toBe(false);
    expect(await kept()).toEqual(before);
  });
});

describe('a countersignature the agent cannot check', () => {
  beforeAll(async () => {
    // The control: the honest answer pairs.
    routes.set('/api/v1/devices/pair', (request) => pairAnswer(request));
    const paired = await client.call('pair', { serverUrl: url, studyId: STUDY, code: CODE, serverKeyId: serverKey.keyId });
    expect(paired).toEqual({ serverUrl: url, serverKeyId: serverKey.keyId, studyId: STUDY, version: study.version, title: study.title });
  });

  const countersigned = (request: unknown, by: SigningKeyPair, change: (receipt: ConsentReceipt) => ConsentReceipt = (receipt) => receipt): Answer =>
    json(201, { receipt: countersignReceipt(change(ConsentReceipt.parse((request as { receipt: unknown }).receipt)), by) });

  it.each<[string, Route, string]>([
    ['by another key, which no endorsement leads to', (request) => countersigned(request, other), 'server-key.not-endorsed'],
    ['over a receipt with a longer validity', (request) => countersigned(request, serverKey, (receipt) => ({ ...receipt, event: { ...receipt.event, validUntil: '2099-01-01T00:00:00.000Z' } })), 'consent.bad-countersignature'],
    ['missing', (request) => json(201, { receipt: (request as { receipt: unknown }).receipt }), 'consent.bad-countersignature'],
    ['refused by the server', () => json(400, { error: { code: 'consent.invalid' } }), 'consent.refused-by-server'],
    ['answered by a server that is down', () => json(503, { error: { code: 'internal' } }), 'server.refused'],
  ])('%s records no consent', async (_, route, code) => {
    routes.set('/api/v1/consent-receipts', route);
    const before = await kept();
    const notice = await client.call('notice', { studyId: STUDY });
    expect(await refusal(client.call('enroll', { studyId: STUDY, noticeHash: notice.noticeHash }))).toBe(code);
    expect(await kept()).toEqual(before);
  });

  it('records consent with both signatures when the countersignature is by the pinned key over the same receipt (the control)', async () => {
    routes.set('/api/v1/consent-receipts', (request) => countersigned(request, serverKey));
    const notice = await client.call('notice', { studyId: STUDY });
    const status = await client.call('enroll', { studyId: STUDY, noticeHash: notice.noticeHash });
    expect(status.state).toBe('enrolled');
    const receipts = readFileSync(join(root, 'receipts.jsonl'), 'utf8').trim().split('\n');
    expect(receipts).toHaveLength(1);
    expect(ConsentReceipt.parse(JSON.parse(receipts[0] ?? '')).integrity.server?.keyId).toBe(serverKey.keyId);
  });

  describe('by a key the agent has not pinned', () => {
    // The server rotated three times: serverKey → r1 → r2 → r3, and countersigns with r3.
    const [r1, r2, r3] = [generateSigningKeyPair(), generateSigningKeyPair(), generateSigningKeyPair()];
    const at = new Date();
    const honest = [endorseServerKey(serverKey, r1, at), endorseServerKey(r1, r2, at), endorseServerKey(r2, r3, at)];
    const [first, second, third] = honest as [ServerKeyEndorsement, ServerKeyEndorsement, ServerKeyEndorsement];
    const byStranger = endorseServerKey(other, r2, at);
    const serveChain = (endorsements: unknown[]): void => {
      routes.set('/api/v1/server-key/endorsements', () => json(200, { endorsements }));
    };
    // The agents of later tests pinned serverKey and meet no rotation.
    afterAll(() => {
      serveChain([]);
    });

    it.each<[string, unknown[], string]>([
      ['a link signed by an unrelated key', [first, { ...byStranger, endorsement: { ...byStranger.endorsement, previousKeyId: r1.keyId } }, third], 'server-key.bad-endorsement'],
      ['a missing link', [first, third], 'server-key.chain-broken'],
      ['a reordered chain', [second, first, third], 'server-key.chain-broken'],
      ['a fork: the pinned key endorses two keys', [first, second, third, endorseServerKey(serverKey, other, at)], 'server-key.chain-fork'],
      ['a chain that does not start from the pinned key', [second, third], 'server-key.not-endorsed'],
      ['no chain at all', [], 'server-key.not-endorsed'],
      ['a link whose key id is not its key\'s', [first, second, { ...third, endorsement: { ...third.endorsement, newPublicKey: toBase64Url(other.publicKey) } }], 'server.protocol'],
    ])('is refused after %s, and the pinned key and consent are unchanged', async (_, chain, code) => {
      serveChain(chain);
      routes.set('/api/v1/consent-receipts', (request) => countersigned(request, r3));
      const before = await kept();
      const notice = await client.call('notice', { studyId: STUDY });
      expect(await refusal(client.call('enroll', { studyId: STUDY, noticeHash: notice.noticeHash }))).toBe(code);
      expect(await kept()).toEqual(before);
    });

    it('is accepted along the honest chain (the control): the agent re-pins to the newest key, and no longer accepts the key it left', async () => {
      serveChain(honest);
      routes.set('/api/v1/consent-receipts', (request) => countersigned(request, r3));
      const pairingBefore = readFileSync(join(root, PAIRING_FILE));
      const notice = await client.call('notice', { studyId: STUDY });
      expect((await client.call('enroll', { studyId: STUDY, noticeHash: notice.noticeHash })).state).toBe('enrolled');
      const receipts = readFileSync(join(root, 'receipts.jsonl'), 'utf8').trim().split('\n');
      expect(ConsentReceipt.parse(JSON.parse(receipts.at(-1) ?? '')).integrity.server?.keyId).toBe(r3.keyId);
      expect(readFileSync(join(root, PAIRING_FILE)).equals(pairingBefore)).toBe(false);
      // No way back: a countersignature by the key pinned at pairing now leads nowhere from r3.
      routes.set('/api/v1/consent-receipts', (request) => countersigned(request, serverKey));
      const again = await client.call('notice', { studyId: STUDY });
      expect(await refusal(client.call('enroll', { studyId: STUDY, noticeHash: again.noticeHash }))).toBe('consent.bad-countersignature');
      signingKey = r3;
    });
  });

  it('never keeps a withdrawal waiting behind a consent in flight, and that consent is then not recorded', async () => {
    let answer: (value: Answer) => void = () => undefined;
    let received: unknown;
    routes.set('/api/v1/consent-receipts', (request) => {
      received = request;
      return new Promise<Answer>((resolve) => {
        answer = resolve;
      });
    });
    const notice = await client.call('notice', { studyId: STUDY });
    const reaffirming = refusal(client.call('enroll', { studyId: STUDY, noticeHash: notice.noticeHash }));
    await waitFor(() => received !== undefined, 'the receipt to reach the server');
    // The server has not answered the re-affirmation; the withdrawal is answered regardless.
    const withdrawn = await client.call('withdraw', { studyId: STUDY });
    expect(withdrawn.state).toBe('not-enrolled');
    answer(countersigned(received, signingKey));
    expect(await reaffirming).toBe('consent.chain-moved');
    expect((await client.call('status', {})).state).toBe('not-enrolled');
    const states = readFileSync(join(root, 'receipts.jsonl'), 'utf8').trim().split('\n').map((line) => ConsentReceipt.parse(JSON.parse(line)).event.state);
    // The control's consent, the one countersigned along the chain, then the withdrawal; not the re-affirmation.
    expect(states).toEqual(['given', 'given', 'withdrawn']);
  });
});

describe('what the offline demo holds for a study', () => {
  it('is never mixed with the server\'s study of that name: pairing is refused while consent from a study file exists', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'candor-pair-local-'));
    const demo = await startDaemon({ dataDir, source: { kind: 'replay', file: CODING }, log: pino({ level: 'silent' }), catalogRefreshMs: 3_600_000 });
    const demoClient = await ControlClient.connect({ socketPath: demo.socketPath });
    try {
      const notice = await demoClient.call('notice', { studyId: STUDY });
      await demoClient.call('enroll', { studyId: STUDY, noticeHash: notice.noticeHash });
      let reached = false;
      routes.set('/api/v1/devices/pair', (request) => {
        reached = true;
        return pairAnswer(request);
      });
      expect(await refusal(demoClient.call('pair', { serverUrl: url, studyId: STUDY, code: CODE }))).toBe('pair.local-study');
      expect(reached).toBe(false);
      expect(existsSync(join(dataDir, PAIRING_FILE))).toBe(false);
      // The control: another study of the same server pairs.
      routes.set('/api/v1/devices/pair', (request) => pairAnswer(request, (answer) => ({ ...answer, studyId: 'other-study', study: { ...study, studyId: 'other-study' } })));
      expect((await demoClient.call('pair', { serverUrl: url, studyId: 'other-study', code: CODE })).studyId).toBe('other-study');
    } finally {
      demoClient.close();
      await demo.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('what pairing keeps', () => {
  it('is sealed on disk: the server address is not in the file, and a file changed on disk stops the daemon instead of redirecting uploads', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'candor-pair-sealed-'));
    const options = { dataDir, source: { kind: 'replay', file: CODING }, log: pino({ level: 'silent' }), catalogRefreshMs: 3_600_000 } as const;
    try {
      const first = await startDaemon(options);
      const firstClient = await ControlClient.connect({ socketPath: first.socketPath });
      routes.set('/api/v1/devices/pair', (request) => pairAnswer(request));
      await firstClient.call('pair', { serverUrl: url, studyId: STUDY, code: CODE });
      firstClient.close();
      await first.close();

      const path = join(dataDir, PAIRING_FILE);
      const sealed = readFileSync(path);
      const address = Buffer.from(url.slice('http://'.length));
      // Control: the same scan finds the address in what the file holds once opened.
      const store = openStore({ dataDir, keyRing: openKeyRing({ keyDir: dataDir }) });
      const opened = readPairingRecord(dataDir, () => store.deviceKey(PAIRING_SECRET_SLOT));
      store.close();
      expect(Buffer.from(JSON.stringify(opened)).includes(address)).toBe(true);
      expect(sealed.includes(address)).toBe(false);

      const last = sealed.length - 1;
      sealed[last] = (sealed[last] ?? 0) ^ 1;
      writeFileSync(path, sealed);
      await expect(startDaemon(options)).rejects.toMatchObject({ code: 'pairing.unreadable' });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('an answer about the current study version the agent cannot check', () => {
  let dataDir: string;
  let checking: RunningDaemon;
  let checkingClient: ControlClient;
  const v2 = { ...study, version: 2, title: `${study.title}, narrower` };

  /** The honest answer to a study check, with `change` applied before the server key signs it. */
  const studyAnswer = (request: unknown, change: (answer: Record<string, unknown>) => Record<string, unknown>, by: SigningKeyPair = serverKey): Answer => {
    const { request: asked } = request as { request: { nonce: string; deviceKeyId: string; studyId: string } };
    const answer = change({ nonce: asked.nonce, deviceKeyId: asked.deviceKeyId, studyId: asked.studyId, study: v2, aggregatorKey: view(studyKey), serverKeyId: serverKey.keyId, answeredAt: new Date().toISOString() });
    // Signed as given, even when it is not a valid answer: the agent must refuse it on its own.
    return json(200, signStudyAnswer(answer as StudyAnswer, by));
  };

  const offered = async (): Promise<unknown> => ({ studies: await checkingClient.call('studies', {}), pairing: readFileSync(join(dataDir, PAIRING_FILE)).toString('base64') });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'candor-study-check-'));
    routes.set('/api/v1/devices/study', () => json(404, { error: { code: 'not-found' } }));
    checking = await startDaemon({ dataDir, source: { kind: 'replay', file: CODING }, log: pino({ level: 'silent' }), catalogRefreshMs: 3_600_000 });
    checkingClient = await ControlClient.connect({ socketPath: checking.socketPath, timeoutMs: 30_000 });
    routes.set('/api/v1/devices/pair', (request) => pairAnswer(request));
    await checkingClient.call('pair', { serverUrl: url, studyId: STUDY, code: CODE, serverKeyId: serverKey.keyId });
  });
  afterAll(async () => {
    checkingClient.close();
    await checking.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it.each<[string, Route]>([
    ['signed by another key', (request) => studyAnswer(request, (answer) => answer, other)],
    ['naming another server key', (request) => studyAnswer(request, (answer) => ({ ...answer, serverKeyId: other.keyId }))],
    ['answering another request (nonce)', (request) => studyAnswer(request, (answer) => ({ ...answer, nonce: 'B'.repeat(22) }))],
    ['for another device key', (request) => studyAnswer(request, (answer) => ({ ...answer, deviceKeyId: other.keyId }))],
    ['about another study', (request) => studyAnswer(request, (answer) => ({ ...answer, studyId: 'another-study', study: { ...v2, studyId: 'another-study' } }))],
    ['offering an older version', (request) => studyAnswer(request, (answer) => ({ ...answer, study: { ...study, version: 0 } }))],
    ['changing the version it paired with', (request) => studyAnswer(request, (answer) => ({ ...answer, study: { ...study, title: 'rewritten' } }))],
    ['with a study outside the schema', (request) => studyAnswer(request, (answer) => ({ ...answer, study: { ...v2, upload: 'everything' } }))],
  ])('%s changes nothing', async (_, route) => {
    let asked = false;
    routes.set('/api/v1/devices/study', (request) => {
      asked = true;
      return route(request);
    });
    const before = await offered();
    await checking.agent.checkServer();
    expect(asked).toBe(true);
    expect(await offered()).toEqual(before);
  });

  it('offers the new version when the pinned server key signed an answer to this request (the control)', async () => {
    routes.set('/api/v1/devices/study', (request) => studyAnswer(request, (answer) => answer));
    await checking.agent.checkServer();
    expect(await checkingClient.call('studies', {})).toEqual([{ studyId: STUDY, version: 2, title: v2.title, enrolled: false }]);
  });

  it('keeps no audit checkpoint that the key it names did not sign, and still checks the study; keeps the one that key signed (the control)', async () => {
    const checkpointAt = (seq: number, by: SigningKeyPair) =>
      signAuditCheckpoint({ seq, hash: 'c'.repeat(64), signedAt: new Date().toISOString(), serverKeyId: serverKey.keyId }, by);
    const newest = (): string | null => (existsSync(join(dataDir, NEWEST_CHECKPOINT_FILE)) ? readFileSync(join(dataDir, NEWEST_CHECKPOINT_FILE), 'utf8') : null);
    const before = newest();
    let asked = 0;
    routes.set('/api/v1/devices/study', (request) => {
      asked += 1;
      return studyAnswer(request, (answer) => answer);
    });
    try {
      routes.set('/api/v1/audit/checkpoint', () => json(200, checkpointAt(41, other)));
      await checking.agent.checkServer();
      expect(newest()).toBe(before);
      // The refused checkpoint does not stop the study check.
      expect(asked).toBe(1);
      routes.set('/api/v1/audit/checkpoint', () => json(500, { error: { code: 'internal' } }));
      await checking.agent.checkServer();
      expect(asked).toBe(2);
      routes.set('/api/v1/audit/checkpoint', () => json(200, checkpointAt(42, serverKey)));
      await checking.agent.checkServer();
      const kept = AuditCheckpoint.parse(JSON.parse(newest() ?? 'null'));
      expect(kept.checkpoint.seq).toBe(42);
      expect(auditCheckpointVerifies(kept, serverKey.publicKey)).toBe(true);
    } finally {
      routes.set('/api/v1/audit/checkpoint', announcedCheckpoint);
    }
  });
});
