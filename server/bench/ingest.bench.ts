/**
 * Ingest throughput on loopback: signed, sealed batches per second through the real API
 * server (signature check, device and consent checks, idempotent store), beside a bare insert
 * of the same rows into the same SQLite schema in the same run. Prints figures; never fails on them.
 * Targets (issue 6): ≥ 50% of the bare insert rate and ≥ 2,000 batches/s.
 * Also times the ingest path without HTTP (acceptEnvelope called directly, as many in flight), to
 * show what the checks and the store cost apart from parsing and answering requests.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { canonicalHash, generateSigningKeyPair, randomId, sealEnvelope } from '@candor/shared/crypto';
import { utf8 } from '@candor/shared/encoding';
import { captureScopeOf, StudyVersion } from '@candor/shared/schemas/study';
import { SealedEnvelope } from '@candor/shared/schemas/envelope';
import { createAggregator } from '../src/aggregate/aggregator.ts';
import { openApiStore } from '../src/db/store.ts';
import { buildServer } from '../src/http/app.ts';
import { loadOrCreateServerKeys } from '../src/keys/files.ts';
import { acceptEnvelope } from '../src/ingest/accept.ts';
import { serverPaths } from '../src/cli/paths.ts';
import { readFileSync } from 'node:fs';

const BATCHES = 6000;
const DEVICES = 50;
const CONCURRENCY = 32;

const dir = mkdtempSync(join(tmpdir(), 'candor-bench-'));
const paths = serverPaths(join(dir, 'api.db'));
const store = openApiStore(paths);
const study = StudyVersion.parse(JSON.parse(readFileSync(new URL('../../seeds/studies/coding-practice.v1.json', import.meta.url), 'utf8')));
const at = new Date();
store.insertUser({ id: 'researcher', username: 'researcher', passwordHash: 'x', createdAt: at.toISOString() });
store.insertStudy({ id: study.studyId, createdBy: 'researcher', createdAt: at.toISOString() });
store.insertStudyVersion({ studyId: study.studyId, version: 1, body: JSON.stringify(study), scopeHash: canonicalHash(captureScopeOf(study)), authorId: 'researcher', createdAt: at.toISOString() });
store.setVersionState({ studyId: study.studyId, version: 1, state: 'approved', reviewedBy: 'reviewer' });
store.setStudyStatus({ id: study.studyId, status: 'open', currentVersion: 1 });
const aggregator = createAggregator({ files: paths, keyFile: paths.aggregatorKeyFile });
aggregator.runOnce();
const studyKey = store.aggregator.currentStudyKey(study.studyId);
if (!studyKey) throw new Error('no study key');

const devices = Array.from({ length: DEVICES }, (_, index) => {
  const pair = generateSigningKeyPair();
  const userId = `participant${index}`;
  store.insertUser({ id: userId, username: userId, passwordHash: 'x', createdAt: at.toISOString() });
  store.insertDevice({ keyId: pair.keyId, publicKey: pair.publicKey, userId, studyId: study.studyId, pseudonym: `p_${randomId()}`, pairedAt: at.toISOString() });
  store.insertConsentReceipt({ receiptId: crypto.randomUUID(), deviceKeyId: pair.keyId, studyId: study.studyId, studyVersion: 1, state: 'given', validUntilMs: Date.now() + 86_400_000, receivedAtMs: Date.now(), receipt: '{}' });
  return pair;
});

const window = {
  studyId: study.studyId,
  studyVersion: 1,
  windowStart: '2026-11-23T09:00:00.000Z',
  windowMinutes: 15,
  aggregate: { signal: 'keyboard-activity', keyCount: 120, correctionCount: 4, typingSpeed: [0, 1, 2, 3, 0, 0, 0, 0], pauses: [1, 2, 3, 0, 0, 0, 0, 0] },
  manifest: { policyHash: study.redactionPolicy.hash, detectors: [], redactions: {} },
};
const seal = (index: number) => {
  const batchId = canonicalHash({ bench: index, run: dir });
  const sender = devices[index % DEVICES];
  if (!sender) throw new Error('no device');
  const payload = utf8(JSON.stringify({ batchId, windows: Array.from({ length: 8 }, () => window) }));
  return sealEnvelope(payload, { studyId: study.studyId, studyVersion: 1, batchId, createdAt: at.toISOString() }, sender, studyKey.publicKey);
};
const envelopes = Array.from({ length: BATCHES }, (_, index) => seal(index));
const bodies = envelopes.map((envelope) => JSON.stringify(envelope));

const serverKeys = loadOrCreateServerKeys(paths.serverKeyFile);
const app = await buildServer({
  store,
  serverKeys: () => serverKeys,
  rotateServerKey: () => ({ current: serverKeys.current.keyId, retired: [] }),
  secureCookies: false,
  rateLimitScale: 1000,
});
const address = await app.listen({ host: '127.0.0.1', port: 0 });

// The load comes from wrk, an HTTP benchmarking client written in C, so that on a small machine
// it takes as little as it can of the cores the server needs. Each request sends the next
// envelope (its Lua script reads them from a file, one per line) and starts over after the last:
// wrk may drop a request it had prepared (4.1 drops the first), and the next round sends it again.
// The server's side times the run, from the first ingest request to the answer that stores the
// last batch; an answer other than 201 (stored) or 200 (a repeat of a stored one) is a refusal.
const WRK_SCRIPT = `
local bodies, sent = {}, 0
function init(args) for line in io.lines(args[1]) do table.insert(bodies, line) end end
function request()
  sent = sent % #bodies + 1
  return wrk.format("POST", "/api/v1/ingest", { ["Content-Type"] = "application/json" }, bodies[sent])
end
`;
writeFileSync(join(dir, 'bodies.txt'), bodies.join('\n'));
writeFileSync(join(dir, 'ingest.lua'), WRK_SCRIPT);
// How busy the server's thread was while ingesting: near 100% means ingest is bound by that thread's CPU.
const loopBefore = performance.eventLoopUtilization();
const result = await new Promise<{ seconds: number; failed: number; repeats: number }>((resolve, reject) => {
  let started: bigint | undefined;
  const answers = { stored: 0, repeats: 0, failed: 0 };
  app.server.on('request', (_request: IncomingMessage, response: ServerResponse) => {
    started ??= process.hrtime.bigint();
    response.once('finish', () => {
      if (response.statusCode === 201) answers.stored += 1;
      else if (response.statusCode === 200) answers.repeats += 1;
      else answers.failed += 1;
      if (answers.stored + answers.failed === BATCHES && started !== undefined) {
        resolve({ seconds: Number(process.hrtime.bigint() - started) / 1e9, failed: answers.failed, repeats: answers.repeats });
        wrk.kill('SIGINT');
      }
    });
  });
  const wrk = spawn('wrk', ['-t1', `-c${String(CONCURRENCY)}`, '-d600s', '-s', join(dir, 'ingest.lua'), address, '--', join(dir, 'bodies.txt')], { stdio: 'ignore' });
  wrk.once('error', (error) => {
    reject(new Error(`wrk could not run (${error.message}); it comes with .ci/install-debian-packages, or apt-get install wrk`));
  });
  wrk.once('exit', (code, signal) => {
    if (answers.stored + answers.failed < BATCHES) reject(new Error(`wrk stopped (${String(code ?? signal)}) with ${String(answers.stored)} of ${String(BATCHES)} batches stored`));
  });
});
const loop = performance.eventLoopUtilization(loopBefore);
await app.close();
const stored = store.countEnvelopes();
if (stored !== BATCHES - result.failed) throw new Error(`ingest answered ${BATCHES - result.failed} batches as stored but ${stored} rows exist`);

// The same path without HTTP: other batches (the first run's are held), parsed from the same
// JSON text, handed to acceptEnvelope with CONCURRENCY in flight.
const direct = Array.from({ length: BATCHES }, (_, index) => JSON.stringify(seal(BATCHES + index)));
const directLoop = performance.eventLoopUtilization();
const directStarted = process.hrtime.bigint();
let directNext = 0;
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (directNext < direct.length) {
      const text = direct[directNext++] ?? '';
      await acceptEnvelope(store, SealedEnvelope.parse(JSON.parse(text)), new Date());
    }
  }),
);
const directSeconds = Number(process.hrtime.bigint() - directStarted) / 1e9;
const directBusy = performance.eventLoopUtilization(directLoop);
if (store.countEnvelopes() !== stored + BATCHES) throw new Error('the direct run did not store every batch');

// The same rows, inserted one transaction each into a fresh database of the same schema.
const bareDir = mkdtempSync(join(tmpdir(), 'candor-bench-bare-'));
const bare = openApiStore(serverPaths(join(bareDir, 'api.db')));
bare.insertUser({ id: 'u', username: 'u', passwordHash: 'x', createdAt: at.toISOString() });
bare.insertStudy({ id: study.studyId, createdBy: 'u', createdAt: at.toISOString() });
for (const pair of devices) bare.insertDevice({ keyId: pair.keyId, publicKey: pair.publicKey, userId: 'u', studyId: study.studyId, pseudonym: `p_${randomId()}`, pairedAt: at.toISOString() });
const bareRows = envelopes.map((envelope, index) => ({
  batchId: envelope.header.batchId,
  studyId: study.studyId,
  studyVersion: 1,
  deviceKeyId: envelope.header.senderKeyId,
  envelope: bodies[index] ?? '',
}));
// Ingest commits the batches that arrive in one event-loop turn together (at most CONCURRENCY,
// as many as are in flight), so the bare insert is timed both ways: one transaction per batch,
// and groups of CONCURRENCY per transaction, the most grouping ingest could ever get. Same
// pragmas (WAL, synchronous = FULL) as the server's store, since it is the same openApiStore;
// both are read back from the connections and printed.
function bareInsert(groupSize: number): number {
  const started = process.hrtime.bigint();
  for (let first = 0; first < bareRows.length; first += groupSize) {
    bare.transaction(() => {
      for (const row of bareRows.slice(first, first + groupSize)) bare.insertEnvelope({ ...row, receivedAt: new Date().toISOString() });
    });
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}
const bareSeconds = bareInsert(1);
for (const pair of devices) bare.deleteEnvelopesOfDevice(pair.keyId);
const groupedSeconds = bareInsert(CONCURRENCY);

const ingestRate = BATCHES / result.seconds;
const bareRate = BATCHES / bareSeconds;
const groupedRate = BATCHES / groupedSeconds;
const bytes = Math.round(bodies.reduce((sum, body) => sum + body.length, 0) / BATCHES);
const pragmas = (durability: { journalMode: string; synchronous: string }): string => `journal_mode = ${durability.journalMode}, synchronous = ${durability.synchronous.toUpperCase()}`;
const percent = (rate: number): string => `${((ingestRate / rate) * 100).toFixed(1)}%`;
process.stdout.write(
  [
    `batches: ${BATCHES} from ${DEVICES} devices, sent by wrk over ${CONCURRENCY} keep-alive connections, ~${bytes} bytes each (8 windows); ${String(result.repeats)} repeats of stored batches answered 200 (wrk starts the list over while its last batches are answered)`,
    `pragmas: ingest's store ${pragmas(store.durability())}; bare insert's store ${pragmas(bare.durability())}`,
    `server thread while ingesting: ${(loop.utilization * 100).toFixed(0)}% busy, ${((loop.active * 1000) / BATCHES).toFixed(0)} µs busy per batch; without HTTP ${(directBusy.utilization * 100).toFixed(0)}% busy, ${((directBusy.active * 1000) / BATCHES).toFixed(0)} µs per batch`,
    `load average (1/5/15 min) on ${String(availableParallelism())} cores: ${loadavg().map((load) => load.toFixed(2)).join(' / ')}`,
    '',
    '| path | batches/s | seconds | refused |',
    '| --- | ---: | ---: | ---: |',
    `| HTTP ingest on 127.0.0.1 (verify + checks + store) | ${ingestRate.toFixed(0)} | ${result.seconds.toFixed(2)} | ${result.failed} |`,
    `| the same path without HTTP (JSON + zod + verify + checks + store) | ${(BATCHES / directSeconds).toFixed(0)} | ${directSeconds.toFixed(2)} | 0 |`,
    `| bare insert, same rows, same schema, 1 per transaction | ${bareRate.toFixed(0)} | ${bareSeconds.toFixed(2)} | 0 |`,
    `| bare insert, same rows, same schema, ${CONCURRENCY} per transaction | ${groupedRate.toFixed(0)} | ${groupedSeconds.toFixed(2)} | 0 |`,
    '',
    `ingest / bare: ${percent(bareRate)} of 1 per transaction, ${percent(groupedRate)} of ${CONCURRENCY} per transaction (target ≥ 50%); ingest target ≥ 2,000 batches/s`,
    '',
  ].join('\n'),
);
bare.close();
aggregator.close();
store.close();
rmSync(dir, { recursive: true, force: true });
rmSync(bareDir, { recursive: true, force: true });
