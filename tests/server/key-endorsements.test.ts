/**
 * Server key rotation leaves a chain agents can walk: each rotation, by the admin route or the
 * CLI, stores the new key's endorsement by the key it replaced, and the public route answers
 * the chain. A key file written before endorsements existed still loads, and its next rotation
 * starts the chain.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerKeyChain, walkServerKeyChain } from '../../shared/src/endorsement.ts';
import { loadOrCreateServerKeys, rotateServerSigningKey } from '../../server/src/keys/files.ts';
import { createWorld, type World } from './world.ts';

const CLI = new URL('../../server/src/cli/main.ts', import.meta.url).pathname;

let world: World;
beforeAll(async () => {
  world = await createWorld();
});
afterAll(async () => {
  await world.close();
});

async function chain(): Promise<ServerKeyChain> {
  const answer = await world.as(undefined, 'GET', '/api/v1/server-key/endorsements');
  expect(answer.statusCode).toBe(200);
  return ServerKeyChain.parse(answer.json());
}

describe('the server key endorsement chain', () => {
  it('is empty before any rotation, and public', async () => {
    expect((await chain()).endorsements).toEqual([]);
  });

  it('gains a link per rotation, by the admin route or the CLI, that leads from the first key to the one the server signs with', async () => {
    const first = loadOrCreateServerKeys(world.serverKeyFile).current;
    const admin = await world.signIn(world.person('ada', [{ role: 'admin', studyId: null }]));
    expect((await world.as(admin, 'POST', '/api/v1/admin/keys/rotate', { reason: 'yearly rotation' })).statusCode).toBe(200);
    const cli = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'keys', 'rotate', '--which', 'server', '--db', world.files.apiDb], { encoding: 'utf8' });
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/server signing key rotated; now [A-Za-z0-9_-]{22}, endorsed by the key it replaces/);
    // The CLI wrote the file; the running server serves what it loaded at its own rotation, so reload by rotating once more.
    expect((await world.as(admin, 'POST', '/api/v1/admin/keys/rotate', { reason: 'after the operator rotated' })).statusCode).toBe(200);

    const { endorsements } = await chain();
    expect(endorsements).toHaveLength(3);
    const current = loadOrCreateServerKeys(world.serverKeyFile).current;
    expect(walkServerKeyChain({ keyId: first.keyId, publicKey: first.publicKey }, endorsements).keyId).toBe(current.keyId);
    const checkpoint = (await world.as(undefined, 'GET', '/api/v1/audit/checkpoint')).json<{ checkpoint: { serverKeyId: string } }>();
    expect(checkpoint.checkpoint.serverKeyId).toBe(current.keyId);
    // The secret halves never leave the key file.
    const file = JSON.parse(readFileSync(world.serverKeyFile, 'utf8')) as { signing: { secretKey: string }[] };
    const served = JSON.stringify(endorsements);
    for (const { secretKey } of file.signing) expect(served).not.toContain(secretKey);
  });

  it('starts at the next rotation of a key file written before endorsements were kept', () => {
    const file = JSON.parse(readFileSync(world.serverKeyFile, 'utf8')) as { kind: string; signing: unknown[] };
    writeFileSync(world.serverKeyFile, JSON.stringify({ kind: file.kind, signing: file.signing }), { mode: 0o600 });
    const before = loadOrCreateServerKeys(world.serverKeyFile);
    expect(before.endorsements).toEqual([]);
    const { current } = rotateServerSigningKey(world.serverKeyFile);
    const after = loadOrCreateServerKeys(world.serverKeyFile);
    expect(after.endorsements.map((link) => link.endorsement.previousKeyId)).toEqual([before.current.keyId]);
    expect(walkServerKeyChain({ keyId: before.current.keyId, publicKey: before.current.publicKey }, after.endorsements).keyId).toBe(current);
  });
});
