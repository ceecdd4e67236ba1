/** `candor-server keys rotate`: a rotation keeps everything readable that should be, and is audited. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditCheckpoint } from '@candor/shared/audit-checkpoint';
import { verifyCheckpointSignature } from '../../server/src/audit/chain.ts';
import { loadOrCreateAggregatorKeys, loadOrCreateServerKeys } from '../../server/src/keys/files.ts';
import { createWorld, keyboardWindow, type World } from './world.ts';

const CLI = new URL('../../server/src/cli/main.ts', import.meta.url).pathname;
const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8' });

let world: World;
beforeAll(async () => {
  world = await createWorld();
  const researcher = await world.signIn(world.person('rita', [{ role: 'researcher', studyId: null }]));
  const reviewer = await world.signIn(world.person('rowan', [{ role: 'privacy_reviewer', studyId: null }]));
  await world.openStudy('keyed', researcher, reviewer);
  for (let index = 0; index < 10; index += 1) {
    const device = await world.enrollDevice('keyed', await world.signIn(world.person(`p${index}`, [{ role: 'participant', studyId: null }])));
    await world.consent(device);
    await world.as(undefined, 'POST', '/api/v1/ingest', world.seal(device, { windows: [keyboardWindow('keyed', 10)] }));
  }
  world.aggregator.runOnce();
});
afterAll(async () => {
  await world.close();
});

describe('keys rotate', () => {
  it('re-wraps every participant key under a new aggregator master key and forgets the old one', () => {
    const before = loadOrCreateAggregatorKeys(world.aggregatorKeyFile).currentMaster.keyId;
    const result = cli('keys', 'rotate', '--which', 'aggregator', '--db', world.files.apiDb);
    expect(result.status).toBe(0);
    expect(loadOrCreateAggregatorKeys(world.aggregatorKeyFile).masterKeys.length).toBe(2);
    expect(world.aggregator.runOnce()).toMatchObject({ rewrapped: 10 });
    const keys = loadOrCreateAggregatorKeys(world.aggregatorKeyFile);
    expect(keys.masterKeys.map((key) => key.keyId)).not.toContain(before);
    expect(keys.masterKeys.length).toBe(1);
    // Cohorts are still computed from rows whose keys are now wrapped under the new master.
    expect(world.store.aggregator.cohortResultsOfStudy('keyed').find((cell) => cell.metric === 'keyboard-activity.keyCount')?.participants).toBe(10);
    expect(world.store.lastAuditRow()).toMatchObject({ actor: 'operator', action: 'keys.rotate' });
    expect(readFileSync(world.aggregatorKeyFile, 'utf8')).not.toContain(before);
  });

  it('gives the server a new signing key while checkpoints signed by the old one still verify', async () => {
    const old = AuditCheckpoint.parse((await world.as(undefined, 'GET', '/api/v1/audit/checkpoint')).json());
    const admin = await world.signIn(world.person('ada', [{ role: 'admin', studyId: null }]));
    const rotated = await world.as(admin, 'POST', '/api/v1/admin/keys/rotate', { reason: 'yearly rotation' });
    expect(rotated.statusCode).toBe(200);
    const fresh = AuditCheckpoint.parse((await world.as(undefined, 'GET', '/api/v1/audit/checkpoint')).json());
    expect(fresh.checkpoint.serverKeyId).not.toBe(old.checkpoint.serverKeyId);
    const { publicKeys } = loadOrCreateServerKeys(world.serverKeyFile);
    expect(verifyCheckpointSignature(old, publicKeys)).toBe(true);
    expect(verifyCheckpointSignature(fresh, publicKeys)).toBe(true);
  });

  it('refuses an unknown key kind with exit code 2', () => {
    const result = cli('keys', 'rotate', '--which', 'everything', '--db', world.files.apiDb);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--which must be server, aggregator or study');
  });
});

describe('keys rotate --which study', () => {
  it('makes a sealing key the aggregator publishes, refuses envelopes sealed to the old one, and still opens those stored before', async () => {
    const device = await world.enrollDevice('keyed', await world.signIn(world.person('sam', [{ role: 'participant', studyId: null }])));
    expect(await world.consent(device)).toBe(201);
    const before = world.store.aggregator.currentStudyKey('keyed');
    if (!before) throw new Error('no study key');
    // Stored sealed to the old key, and not yet opened when the key changes.
    const early = world.seal(device, { windows: [keyboardWindow('keyed', 10)] });
    expect((await world.as(undefined, 'POST', '/api/v1/ingest', early)).statusCode).toBe(201);

    const result = cli('keys', 'rotate', '--which', 'study', '--study', 'keyed', '--db', world.files.apiDb);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('keyed sealing key');
    // Published only by the aggregator's next pass, the only writer of its database.
    expect(world.store.aggregator.currentStudyKey('keyed')?.keyId).toBe(before.keyId);
    expect(world.aggregator.runOnce()).toMatchObject({ studyKeysPublished: 1, accepted: 1, quarantined: 0 });
    const after = world.store.aggregator.currentStudyKey('keyed');
    if (!after) throw new Error('no study key after the rotation');
    expect(after.keyId).not.toBe(before.keyId);
    const inFile = loadOrCreateAggregatorKeys(world.aggregatorKeyFile).studyKeys;
    expect(inFile.get(before.keyId)?.retired).toBe(true);
    expect(inFile.get(after.keyId)?.retired).toBe(false);
    expect(world.store.lastAuditRow()).toMatchObject({ actor: 'operator', action: 'keys.rotate', studyId: 'keyed', target: 'study-key' });

    const late = world.seal(device, { windows: [keyboardWindow('keyed', 10)] });
    const refused = await world.as(undefined, 'POST', '/api/v1/ingest', late);
    expect(refused.statusCode).toBe(400);
    expect(refused.json<{ error: { code: string } }>().error.code).toBe('ingest.wrong-recipient');
    // The agent seals each try afresh: the same batch sealed to the new key is taken and opened.
    const resealed = world.seal({ ...device, aggregatorKey: after.publicKey, aggregatorKeyId: after.keyId }, { windows: [keyboardWindow('keyed', 10)] }, { batchId: late.header.batchId });
    expect((await world.as(undefined, 'POST', '/api/v1/ingest', resealed)).statusCode).toBe(201);
    expect(world.aggregator.runOnce()).toMatchObject({ studyKeysPublished: 0, accepted: 1, quarantined: 0 });
    // A consent receipt must name the current key.
    expect(await world.consent(device)).toBe(400);
    expect(await world.consent({ ...device, aggregatorKey: after.publicKey, aggregatorKeyId: after.keyId })).toBe(201);
  });

  it('refuses a study with no sealing key, or --study without --which study, and changes nothing', () => {
    const keyFile = readFileSync(world.aggregatorKeyFile, 'utf8');
    const lastAudit = world.store.lastAuditRow()?.seq;
    const unknown = cli('keys', 'rotate', '--which', 'study', '--study', 'no-such-study', '--db', world.files.apiDb);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toBe('candor-server: no-such-study has no sealing key to rotate; the aggregator makes one once a version of it is approved\n');
    const unnamed = cli('keys', 'rotate', '--which', 'study', '--db', world.files.apiDb);
    expect(unnamed.status).toBe(2);
    expect(unnamed.stderr).toContain('--study names the study whose key to rotate');
    expect(cli('keys', 'rotate', '--which', 'server', '--study', 'keyed', '--db', world.files.apiDb).status).toBe(2);
    expect(readFileSync(world.aggregatorKeyFile, 'utf8')).toBe(keyFile);
    expect(world.store.lastAuditRow()?.seq).toBe(lastAudit);
  });
});

describe('user add', () => {
  it('adds a person with one role who can then sign in, and refuses a taken name or an unknown role', async () => {
    const env = { ...process.env, CANDOR_NEW_PASSWORD: 'a password from the operator' };
    const added = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'user', 'add', '--username', 'olga', '--role', 'privacy_reviewer', '--db', world.files.apiDb], { encoding: 'utf8', env });
    expect(added.status).toBe(0);
    expect(added.stdout).toContain('added olga as privacy_reviewer');
    expect(added.stdout).not.toContain('a password from the operator');
    const signIn = await world.app.inject({ method: 'POST', url: '/api/v1/auth/sign-in', payload: { username: 'olga', password: 'a password from the operator' } });
    expect(signIn.statusCode).toBe(200);
    expect(signIn.json<{ user: { grants: { role: string; studyId: string | null }[] } }>().user.grants).toEqual([expect.objectContaining({ role: 'privacy_reviewer', studyId: null })]);
    const again = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'user', 'add', '--username', 'olga', '--role', 'admin', '--db', world.files.apiDb], { encoding: 'utf8', env });
    expect(again.status).toBe(1);
    expect(cli('user', 'add', '--username', 'pete', '--role', 'superuser', '--db', world.files.apiDb).status).toBe(2);
  });
});
