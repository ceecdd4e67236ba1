/**
 * A real Candor server world for tests: temp files, real SQLite, real libsodium, the real
 * aggregator code (run in-process pass by pass here; tests/server/live.test.ts runs it as its
 * own process). Requests go through fastify.inject.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { canonicalHash, generateSigningKeyPair, randomId, sealEnvelope, toBase64Url, type SigningKeyPair } from '../../shared/src/crypto.ts';
import { receiptHash, signReceiptAsParticipant } from '../../shared/src/consent.ts';
import { canonicalJson, utf8 } from '../../shared/src/encoding.ts';
import { ConsentReceipt } from '../../shared/src/schemas/consent.ts';
import type { SealedEnvelope, UploadBatch } from '../../shared/src/schemas/envelope.ts';
import type { SignedErasureRequest } from '../../shared/src/schemas/ingest.ts';
import type { Role } from '../../shared/src/schemas/primitives.ts';
import { StudyVersion, type StudyVersionInput } from '../../shared/src/schemas/study.ts';
import { fromBase64Url } from '../../shared/src/crypto.ts';
import { hashPassword } from '../../server/src/auth/passwords.ts';
import { buildServer, type ServerConfig } from '../../server/src/http/app.ts';
import { createAggregator, type Aggregator } from '../../server/src/aggregate/aggregator.ts';
import { openApiStore, type ApiStore } from '../../server/src/db/store.ts';
import { loadOrCreateServerKeys, rotateServerSigningKey } from '../../server/src/keys/files.ts';
import { signErasureRequest } from '../../shared/src/erasure.ts';
import { consentNoticeOf } from '../../agent/src/consent/notice.ts';
import { unsignedReceipt } from '../../agent/src/consent/receipts.ts';

export const PASSWORD = 'correct horse battery staple';
// One scrypt hash for every seeded account keeps the suites fast; sign-in still verifies it for real.
const PASSWORD_HASH = await hashPassword(PASSWORD);

export const SEED_STUDY = JSON.parse(readFileSync(new URL('../../seeds/studies/coding-practice.v1.json', import.meta.url), 'utf8')) as StudyVersionInput;

export function studyInput(studyId: string, version = 1): StudyVersionInput {
  return { ...SEED_STUDY, studyId, version };
}

export type Person = { id: string; username: string };
export type Session = { cookie: string; csrf: string };
export type Device = { pair: SigningKeyPair; pseudonym: string; studyId: string; aggregatorKey: Uint8Array; aggregatorKeyId: string };

export type World = {
  dir: string;
  files: { apiDb: string; aggregatorDb: string };
  store: ApiStore;
  app: FastifyInstance;
  aggregator: Aggregator;
  serverKeyFile: string;
  aggregatorKeyFile: string;
  person: (username: string, grants: readonly { role: Role; studyId: string | null }[]) => Person;
  signIn: (person: Person) => Promise<Session>;
  as: (session: Session | undefined, method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown) => Promise<LightMyRequestResponse>;
  openStudy: (studyId: string, researcher: Session, reviewer: Session) => Promise<void>;
  enrollDevice: (studyId: string, participant: Session) => Promise<Device>;
  /** Posts a receipt for the study's current version, chained to the device's last; `consentTimestamp` defaults to now. */
  consent: (device: Device, state?: 'given' | 'withdrawn', validUntil?: string, consentTimestamp?: string) => Promise<number>;
  seal: (device: Device, batch: Omit<UploadBatch, 'batchId'>, options?: { batchId?: string; studyId?: string; studyVersion?: number }) => SealedEnvelope;
  erasureRequest: (device: Device) => SignedErasureRequest;
  close: () => Promise<void>;
};

export async function createWorld(overrides: Partial<ServerConfig> = {}): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'candor-server-'));
  const files = { apiDb: join(dir, 'api.db'), aggregatorDb: join(dir, 'aggregator.db') };
  const serverKeyFile = join(dir, 'server-keys.json');
  const aggregatorKeyFile = join(dir, 'aggregator-keys.json');
  const store = openApiStore(files);
  let serverKeys = loadOrCreateServerKeys(serverKeyFile);
  const aggregator = createAggregator({ files, keyFile: aggregatorKeyFile });
  const app = await buildServer({
    store,
    serverKeys: () => serverKeys,
    rotateServerKey: () => {
      const result = rotateServerSigningKey(serverKeyFile);
      serverKeys = loadOrCreateServerKeys(serverKeyFile);
      return result;
    },
    secureCookies: false,
    erasureWaitMs: 2000,
    rateLimitScale: 1000,
    // Tests prune explicitly, so a timer never changes files under a byte scan.
    pruneIntervalMs: 3_600_000,
    logger: { level: process.env.CANDOR_TEST_LOG ?? 'silent' },
    ...overrides,
  });

  const person: World['person'] = (username, grants) => {
    const id = randomId();
    store.insertUser({ id, username, passwordHash: PASSWORD_HASH, createdAt: new Date().toISOString() });
    for (const grant of grants) {
      store.insertGrant({ id: randomId(), userId: id, role: grant.role, studyId: grant.studyId, grantedBy: null, createdAt: new Date().toISOString() });
    }
    return { id, username };
  };

  const as: World['as'] = async (session, method, url, body) =>
    await app.inject({
      method,
      url,
      headers: {
        ...(session ? { cookie: `candor_session=${session.cookie}`, 'x-csrf-token': session.csrf } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });

  const signIn: World['signIn'] = async (who) => {
    const response = await app.inject({ method: 'POST', url: '/api/v1/auth/sign-in', payload: { username: who.username, password: PASSWORD } });
    if (response.statusCode !== 200) throw new Error(`sign-in failed: ${response.statusCode} ${response.body}`);
    const cookie = response.cookies.find((c) => c.name === 'candor_session');
    if (!cookie) throw new Error('no session cookie');
    return { cookie: cookie.value, csrf: (response.json<{ csrfToken: string }>()).csrfToken };
  };

  const expectOk = (response: Awaited<ReturnType<World['as']>>, what: string) => {
    if (response.statusCode >= 300) throw new Error(`${what}: ${response.statusCode} ${response.body}`);
    return response;
  };

  const openStudy: World['openStudy'] = async (studyId, researcher, reviewer) => {
    expectOk(await as(researcher, 'POST', '/api/v1/studies', studyInput(studyId)), 'create study');
    expectOk(await as(researcher, 'POST', `/api/v1/studies/${studyId}/versions/1/submit`), 'submit');
    expectOk(await as(reviewer, 'POST', `/api/v1/studies/${studyId}/versions/1/approve`, { reason: 'scope reviewed' }), 'approve');
    expectOk(await as(researcher, 'POST', `/api/v1/studies/${studyId}/open`), 'open');
    aggregator.runOnce();
  };

  const enrollDevice: World['enrollDevice'] = async (studyId, participant) => {
    expectOk(await as(participant, 'POST', `/api/v1/studies/${studyId}/enroll`), 'enroll');
    const code = expectOk(await as(participant, 'POST', `/api/v1/studies/${studyId}/pairing-codes`), 'pairing code').json<{ code: string }>().code;
    const pair = generateSigningKeyPair();
    const pseudonym = `p_${randomId()}`;
    const paired = expectOk(
      await as(undefined, 'POST', '/api/v1/devices/pair', { code, studyId, devicePublicKey: toBase64Url(pair.publicKey), pseudonym }),
      'pair',
    );
    const { aggregatorKey } = paired.json<{ aggregatorKey: { keyId: string; publicKey: string } }>();
    return { pair, pseudonym, studyId, aggregatorKey: fromBase64Url(aggregatorKey.publicKey), aggregatorKeyId: aggregatorKey.keyId };
  };

  const consent: World['consent'] = async (device, state = 'given', validUntil = new Date(Date.now() + 30 * 86_400_000).toISOString(), consentTimestamp = new Date().toISOString()) => {
    const studyRow = store.findStudy(device.studyId);
    const versionRow = store.findStudyVersion({ studyId: device.studyId, version: studyRow?.currentVersion ?? 1 });
    const study = StudyVersion.parse(JSON.parse(versionRow?.body ?? '{}'));
    // Chained to the last receipt the server holds for the device, as the agent chains them.
    const head = store.latestConsent({ deviceKeyId: device.pair.keyId, studyId: device.studyId });
    const receipt = consentReceiptFor(device, study, state, validUntil, consentTimestamp, head ? receiptHash(ConsentReceipt.parse(JSON.parse(head.receipt))) : null);
    const response = await app.inject({ method: 'POST', url: '/api/v1/consent-receipts', payload: { receipt: receipt satisfies ConsentReceipt } });
    return response.statusCode;
  };

  const seal: World['seal'] = (device, batch, options = {}) => {
    const batchId = options.batchId ?? canonicalHash({ nonce: randomId() });
    const studyId = options.studyId ?? device.studyId;
    const version = options.studyVersion ?? store.findStudy(device.studyId)?.currentVersion ?? 1;
    return sealEnvelope(utf8(JSON.stringify({ ...batch, batchId })), { studyId, studyVersion: version, batchId, createdAt: new Date().toISOString() }, device.pair, device.aggregatorKey);
  };

  const erasureRequest: World['erasureRequest'] = (device) => {
    const request = { studyId: device.studyId, deviceKeyId: device.pair.keyId, requestedAt: new Date().toISOString(), requestId: randomId() };
    return signErasureRequest(request, device.pair);
  };

  return {
    dir,
    files,
    store,
    app,
    aggregator,
    serverKeyFile,
    aggregatorKeyFile,
    person,
    signIn,
    as,
    openStudy,
    enrollDevice,
    consent,
    seal,
    erasureRequest,
    close: async () => {
      await app.close();
      aggregator.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A consent receipt as the agent makes it, signed by the device key. */
export function consentReceiptFor(
  device: Device,
  study: StudyVersion,
  state: 'given' | 'withdrawn' = 'given',
  validUntil = new Date(Date.now() + 30 * 86_400_000).toISOString(),
  consentTimestamp = new Date().toISOString(),
  previousReceiptHash: string | null = null,
): ConsentReceipt {
  const parties = { principalId: device.pseudonym, aggregatorKeyId: device.aggregatorKeyId };
  const receipt = unsignedReceipt(study, consentNoticeOf(study), parties, state, Date.parse(consentTimestamp), Date.parse(validUntil), previousReceiptHash);
  return signReceiptAsParticipant(receipt, device.pair);
}

/** The start of the 15-minute window `at` falls in, as agents align them. */
export function windowStartOf(at: number): string {
  return new Date(at - (at % (15 * 60_000))).toISOString();
}

/**
 * A window of the seed study with chosen counts. It starts in the current window by default, so
 * it overlaps consent given just before: the aggregator accepts only windows consent covered.
 */
export function keyboardWindow(studyId: string, keyCount: number, version = 1, windowStart = windowStartOf(Date.now())) {
  return {
    studyId,
    studyVersion: version,
    windowStart,
    windowMinutes: 15,
    aggregate: { signal: 'keyboard-activity' as const, keyCount, correctionCount: 1, typingSpeed: [0, 0, 1, 0, 0, 0, 0, 0], pauses: [0, 1, 0, 0, 0, 0, 0, 0] },
    manifest: { policyHash: SEED_STUDY.redactionPolicy.hash, detectors: [], redactions: {} },
  };
}

export { canonicalJson };
