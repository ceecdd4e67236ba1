/** `candor-server keys rotate`: a rotation keeps everything readable that should be, and is audited. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditCheckpoint, verifyCheckpointSignature } from '../../server/src/audit/chain.ts';
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
    expect(result.stderr).toContain('--which must be server or aggregator');
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
