/**
 * What a copy of the server's files reveals. Canary tokens are typed-vocabulary values each
 * only one participant sends: they must never be readable from the API server's side, and
 * after a withdrawal nothing of that participant may be decryptable from any file, WAL included.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptRecord, randomId } from '../../shared/src/crypto.ts';
import { fromUtf8, utf8 } from '../../shared/src/encoding.ts';
import { loadOrCreateAggregatorKeys } from '../../server/src/keys/files.ts';
import { verifyErasureAck } from '../../shared/src/erasure.ts';
import { pruneProcessedEnvelopes } from '../../server/src/ingest/prune.ts';
import { loadOrCreateServerKeys } from '../../server/src/keys/files.ts';
import type { SignedErasureAck } from '../../shared/src/schemas/ingest.ts';
import { createWorld, keyboardWindow, type Device, type World } from './world.ts';

function vocabularyWindow(studyId: string, token: string) {
  return { ...keyboardWindow(studyId, 1), aggregate: { signal: 'typed-vocabulary' as const, counts: { [token]: 3 } } };
}

/** Every byte the given files hold, as one buffer per file. */
function bytesOf(dir: string, include: (name: string) => boolean): Map<string, Buffer> {
  return new Map(readdirSync(dir).filter(include).map((name) => [name, readFileSync(join(dir, name))]));
}

function filesContaining(files: Map<string, Buffer>, needle: string | Uint8Array): string[] {
  const pattern = typeof needle === 'string' ? Buffer.from(needle) : Buffer.from(needle);
  return [...files].filter(([, bytes]) => bytes.includes(pattern)).map(([name]) => name);
}

/** Decrypts every participant row a copy of the aggregator's file holds, with the aggregator's keys. */
function decryptableRows(aggregatorDb: string, aggregatorKeyFile: string): { pseudonym: string; text: string }[] {
  const keys = loadOrCreateAggregatorKeys(aggregatorKeyFile);
  const db = new Database(aggregatorDb, { readonly: true });
  const wrapped = new Map(
    (db.prepare('SELECT key_id, wrapped_key FROM participant_keys').all() as { key_id: string; wrapped_key: Buffer }[]).map((row) => [
      row.key_id,
      decryptRecord(new Uint8Array(row.wrapped_key), (id) => keys.masterKeys.find((key) => key.keyId === id)?.key, utf8(`candor/wrapped-key/${row.key_id}`)),
    ]),
  );
  const rows = db.prepare('SELECT id, pseudonym, row FROM participant_rows').all() as { id: number; pseudonym: string; row: Buffer }[];
  db.close();
  return rows.flatMap((row) => {
    try {
      return [{ pseudonym: row.pseudonym, text: fromUtf8(decryptRecord(new Uint8Array(row.row), (id) => wrapped.get(id), utf8(`candor/participant-row/${row.id}`))) }];
    } catch {
      return [];
    }
  });
}

describe('what the server files reveal', () => {
  let world: World;
  let devices: Device[];
  const sealedTexts: string[] = [];
  const canaries: string[] = [];

  beforeAll(async () => {
    world = await createWorld();
    const researcher = await world.signIn(world.person('rita', [{ role: 'researcher', studyId: null }]));
    const reviewer = await world.signIn(world.person('rowan', [{ role: 'privacy_reviewer', studyId: null }]));
    await world.openStudy('vocab', researcher, reviewer);
    devices = [];
    for (let index = 0; index < 11; index += 1) {
      const device = await world.enrollDevice('vocab', await world.signIn(world.person(`p${index}`, [{ role: 'participant', studyId: null }])));
      expect(await world.consent(device)).toBe(201);
      const canary = `canary${randomId().replace(/[^A-Za-z0-9]/g, '')}`;
      canaries.push(canary);
      const envelope = world.seal(device, { windows: [keyboardWindow('vocab', 100 + index), vocabularyWindow('vocab', canary)] });
      expect((await world.as(undefined, 'POST', '/api/v1/ingest', envelope)).statusCode).toBe(201);
      sealedTexts.push(envelope.ciphertext.slice(0, 64));
      devices.push(device);
    }
    expect(world.aggregator.runOnce()).toMatchObject({ accepted: 11 });
  });
  afterAll(async () => {
    await world.close();
  });

  it('holds no individual value anywhere the API server can read, even with all of its own keys', () => {
    const apiSide = bytesOf(world.dir, (name) => !name.startsWith('aggregator-keys'));
    expect([...apiSide.keys()]).toEqual(expect.arrayContaining(['api.db', 'aggregator.db', 'server-keys.json']));
    for (const canary of canaries) expect(filesContaining(apiSide, canary)).toEqual([]);
    // The API server's secret keys do not open participant rows: the only keys that do are in the aggregator's file.
    const serverKeys = loadOrCreateServerKeys(world.serverKeyFile);
    const db = new Database(world.files.aggregatorDb, { readonly: true });
    const rows = db.prepare('SELECT id, row FROM participant_rows').all() as { id: number; row: Buffer }[];
    db.close();
    expect(rows.length).toBe(11);
    for (const row of rows) {
      expect(() => decryptRecord(new Uint8Array(row.row), () => serverKeys.current.secretKey.subarray(0, 32), utf8(`candor/participant-row/${row.id}`))).toThrow();
    }
  });

  it('the same scan finds the canaries once the aggregator keys are in hand (the scan can see them)', () => {
    const texts = decryptableRows(world.files.aggregatorDb, world.aggregatorKeyFile).map((row) => row.text).join('\n');
    for (const canary of canaries) expect(texts).toContain(canary);
  });

  it('the byte scan finds a canary written unsealed into the API database', async () => {
    const control = await createWorld();
    const canary = `canary${randomId().replace(/[^A-Za-z0-9]/g, '')}`;
    control.store.insertUser({ id: randomId(), username: 'x', passwordHash: canary, createdAt: new Date().toISOString() });
    const files = bytesOf(control.dir, (name) => name.startsWith('api.db'));
    expect(filesContaining(files, canary).length).toBeGreaterThan(0);
    await control.close();
  });

  it('after a withdrawal no file or WAL holds a decryptable row of that participant, and cohorts are recomputed', async () => {
    const leaving = devices[0];
    const canary = canaries[0];
    if (!leaving || !canary) throw new Error('setup');
    const before = decryptableRows(world.files.aggregatorDb, world.aggregatorKeyFile).filter((row) => row.pseudonym === leaving.pseudonym);
    expect(before.length).toBe(1);
    const wrappedBefore = (() => {
      const db = new Database(world.files.aggregatorDb, { readonly: true });
      const value = db.prepare('SELECT wrapped_key FROM participant_keys WHERE pseudonym = ?').pluck().get(leaving.pseudonym) as Buffer;
      db.close();
      return value;
    })();
    expect(world.store.aggregator.cohortResultsOfStudy('vocab').find((cell) => cell.metric === 'keyboard-activity.keyCount')?.participants).toBe(11);

    const request = world.erasureRequest(leaving);
    const pending = world.as(undefined, 'POST', '/api/v1/erasure', request);
    let response: Awaited<typeof pending> | undefined;
    void pending.then((value) => (response = value));
    while (response === undefined) {
      world.aggregator.runOnce();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(response.statusCode).toBe(200);
    const ack = response.json<SignedErasureAck>();
    expect(ack.ack).toMatchObject({ requestId: request.request.requestId, studyId: 'vocab', deviceKeyId: leaving.pair.keyId });
    const serverKeys = loadOrCreateServerKeys(world.serverKeyFile);
    expect(() => { verifyErasureAck(ack, request.request, serverKeys.current.publicKey); }).not.toThrow();
    expect(() => { verifyErasureAck({ ...ack, ack: { ...ack.ack, erasedAt: new Date(0).toISOString() } }, request.request, serverKeys.current.publicKey); }).toThrow(/not signed/);

    const all = bytesOf(world.dir, (name) => name.includes('.db'));
    expect([...all.keys()]).toEqual(expect.arrayContaining(['api.db', 'api.db-wal', 'aggregator.db', 'aggregator.db-wal']));
    expect(filesContaining(all, canary)).toEqual([]);
    expect(filesContaining(all, new Uint8Array(wrappedBefore))).toEqual([]);
    // Its sealed envelopes are gone from the API server too (the study key could still open them).
    expect(filesContaining(all, sealedTexts[0] ?? 'missing')).toEqual([]);
    expect(filesContaining(all, sealedTexts[1] ?? 'missing').length).toBeGreaterThan(0);
    const after = decryptableRows(world.files.aggregatorDb, world.aggregatorKeyFile);
    expect(after.filter((row) => row.pseudonym === leaving.pseudonym)).toEqual([]);
    expect(after.length).toBe(10);
    expect(world.store.aggregator.cohortResultsOfStudy('vocab').find((cell) => cell.metric === 'keyboard-activity.keyCount')?.participants).toBe(10);
    // A withdrawn device can no longer upload.
    const late = await world.as(undefined, 'POST', '/api/v1/ingest', world.seal(leaving, { windows: [keyboardWindow('vocab', 1)] }));
    expect(late.statusCode).toBe(403);
  });

  it('empties sealed envelopes from the API database once the aggregator has taken them in, and still answers retries as duplicates', async () => {
    const apiFiles = () => bytesOf(world.dir, (name) => name.startsWith('api.db'));
    expect(filesContaining(apiFiles(), sealedTexts[2] ?? 'missing').length).toBeGreaterThan(0);
    expect(pruneProcessedEnvelopes(world.store)).toBeGreaterThan(0);
    for (const text of sealedTexts) expect(filesContaining(apiFiles(), text)).toEqual([]);
    const device = devices[2];
    if (!device) throw new Error('setup');
    const fresh = world.seal(device, { windows: [keyboardWindow('vocab', 5)] });
    expect((await world.as(undefined, 'POST', '/api/v1/ingest', fresh)).statusCode).toBe(201);
    world.aggregator.runOnce();
    pruneProcessedEnvelopes(world.store);
    expect((await world.as(undefined, 'POST', '/api/v1/ingest', fresh)).json()).toEqual({ batchId: fresh.header.batchId, status: 'duplicate' });
  });
});
