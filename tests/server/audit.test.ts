/**
 * `candor-server audit verify` against a real database copy edited the way an insider with
 * the file could: each edit must make the verifier exit 1, naming the entry. A truncated tail
 * or a chain re-hashed from the edit onward is only detectable against a signed checkpoint,
 * which the test shows both ways.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashAuditRow } from '../../server/src/audit/chain.ts';
import { createWorld, keyboardWindow, type World } from './world.ts';

const CLI = new URL('../../server/src/cli/main.ts', import.meta.url).pathname;

type Row = { seq: number; at: string; actor: string; action: string; study_id: string | null; target: string | null; reason: string; outcome: string; prev_hash: string; hash: string };

let world: World;
let checkpointFile: string;
const copies: string[] = [];

function copyOfDatabase(): string {
  const dir = mkdtempSync(join(tmpdir(), 'candor-audit-'));
  copies.push(dir);
  copyFileSync(world.files.apiDb, join(dir, 'api.db'));
  copyFileSync(world.serverKeyFile, join(dir, 'server-keys.json'));
  return join(dir, 'api.db');
}

/** Opens a copy as the insider would: triggers dropped, rows rewritten at will. */
function tamper(file: string, edit: (db: Database.Database, rows: Row[]) => void): void {
  const db = new Database(file);
  db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;');
  edit(db, db.prepare('SELECT * FROM audit_log ORDER BY seq').all() as Row[]);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

function verify(file: string, withCheckpoint = false): { status: number | null; output: string } {
  const args = ['--import', 'tsx', CLI, 'audit', 'verify', '--db', file, ...(withCheckpoint ? ['--checkpoint', checkpointFile] : [])];
  const result = spawnSync(process.execPath, args, { encoding: 'utf8' });
  return { status: result.status, output: result.stdout + result.stderr };
}

function rehashFrom(db: Database.Database, rows: Row[], start: number): void {
  let prev = rows.find((row) => row.seq === start - 1)?.hash ?? '0'.repeat(64);
  const update = db.prepare('UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?');
  for (const row of db.prepare('SELECT * FROM audit_log WHERE seq >= ? ORDER BY seq').all(start) as Row[]) {
    const hash = hashAuditRow({ seq: row.seq, at: row.at, actor: row.actor, action: row.action, studyId: row.study_id, target: row.target, reason: row.reason, outcome: row.outcome, prevHash: prev });
    update.run(prev, hash, row.seq);
    prev = hash;
  }
}

beforeAll(async () => {
  world = await createWorld();
  const researcher = await world.signIn(world.person('rita', [{ role: 'researcher', studyId: null }]));
  const reviewer = await world.signIn(world.person('rowan', [{ role: 'privacy_reviewer', studyId: null }]));
  await world.openStudy('audited', researcher, reviewer);
  const participant = await world.signIn(world.person('pat', [{ role: 'participant', studyId: null }]));
  const device = await world.enrollDevice('audited', participant);
  await world.consent(device);
  await world.as(undefined, 'POST', '/api/v1/ingest', world.seal(device, { windows: [keyboardWindow('audited', 9)] }));
  for (let index = 0; index < 3; index += 1) await world.as(researcher, 'GET', '/api/v1/studies/audited/releases');
  const checkpoint = await world.as(undefined, 'GET', '/api/v1/audit/checkpoint');
  checkpointFile = join(world.dir, 'checkpoint.json');
  writeFileSync(checkpointFile, checkpoint.body);
  world.store.compact();
  expect(world.store.allAuditRows().length).toBeGreaterThan(8);
});
afterAll(async () => {
  await world.close();
  for (const dir of copies) rmSync(dir, { recursive: true, force: true });
});

describe('audit verify', () => {
  it('passes an untouched log, with and without the checkpoint', () => {
    const file = copyOfDatabase();
    expect(verify(file)).toMatchObject({ status: 0 });
    expect(verify(file, true)).toMatchObject({ status: 0, output: expect.stringContaining('matches the checkpoint at entry') as string });
  });

  const edits: [string, (db: Database.Database, rows: Row[]) => void][] = [
    ['an edited reason', (db) => db.prepare("UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 4").run()],
    ['an edited actor', (db) => db.prepare("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2").run()],
    ['a deleted row', (db) => db.prepare('DELETE FROM audit_log WHERE seq = 3').run()],
    [
      'two rows swapped',
      (db, rows) => {
        const [a, b] = [rows[2], rows[3]];
        if (!a || !b) throw new Error('setup');
        const put = db.prepare('UPDATE audit_log SET at = ?, actor = ?, action = ?, study_id = ?, target = ?, reason = ?, outcome = ?, prev_hash = ?, hash = ? WHERE seq = ?');
        put.run(b.at, b.actor, b.action, b.study_id, b.target, b.reason, b.outcome, b.prev_hash, b.hash, a.seq);
        put.run(a.at, a.actor, a.action, a.study_id, a.target, a.reason, a.outcome, a.prev_hash, a.hash, b.seq);
      },
    ],
    [
      'a row inserted in the middle',
      (db, rows) => {
        db.prepare('DELETE FROM audit_log WHERE seq >= 3').run();
        const insert = db.prepare('INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
        const base = rows[2];
        if (!base) throw new Error('setup');
        insert.run(3, base.at, 'forger', 'role.grant', null, null, 'backdated', 'done', base.prev_hash, base.hash);
        for (const row of rows.slice(2)) insert.run(row.seq + 1, row.at, row.actor, row.action, row.study_id, row.target, row.reason, row.outcome, row.prev_hash, row.hash);
      },
    ],
  ];
  for (const [what, edit] of edits) {
    it(`catches ${what}`, () => {
      const file = copyOfDatabase();
      tamper(file, edit);
      const result = verify(file);
      expect(result.status).toBe(1);
      expect(result.output).toMatch(/audit entry \d+: /);
    });
  }

  it('catches a truncated tail only against a checkpoint', () => {
    const file = copyOfDatabase();
    tamper(file, (db, rows) => db.prepare('DELETE FROM audit_log WHERE seq > ?').run((rows.at(-1)?.seq ?? 0) - 2));
    expect(verify(file).status).toBe(0);
    const result = verify(file, true);
    expect(result.status).toBe(1);
    expect(result.output).toContain('truncated');
  });

  it('catches a chain re-hashed after an edit only against a checkpoint', () => {
    const file = copyOfDatabase();
    tamper(file, (db, rows) => {
      db.prepare("UPDATE audit_log SET reason = 'rewritten' WHERE seq = 3").run();
      rehashFrom(db, rows, 3);
    });
    expect(verify(file).status).toBe(0);
    const result = verify(file, true);
    expect(result.status).toBe(1);
    expect(result.output).toContain('rewritten');
  });

  it('refuses a forged checkpoint', () => {
    const file = copyOfDatabase();
    const forged = JSON.parse(JSON.stringify(world.store.lastAuditRow())) as { seq: number };
    writeFileSync(join(world.dir, 'forged.json'), JSON.stringify({ checkpoint: { seq: forged.seq, hash: 'a'.repeat(64), signedAt: new Date().toISOString(), serverKeyId: 'AAAAAAAAAAAAAAAAAAAAAA' }, signature: 'A'.repeat(86) }));
    const result = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'audit', 'verify', '--db', file, '--checkpoint', join(world.dir, 'forged.json')], { encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('signature');
  });

  it('names the line of a checkpoint file that holds no checkpoint, and verifies nothing', () => {
    const file = copyOfDatabase();
    const lines = join(world.dir, 'torn.jsonl');
    writeFileSync(lines, `${readFileSync(checkpointFile, 'utf8').trim()}\n{"checkpoint":{"seq":`);
    const result = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'audit', 'verify', '--db', file, '--checkpoint', lines], { encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`${lines}: line 2 is not an audit checkpoint`);
    expect(result.stdout).not.toContain('intact');
    expect(result.stderr).not.toMatch(/\bat \S+ \(/);
  });

  it('answers a wrong command line with exit code 2 and the usage', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'audit', 'verify', '--no-such-flag'], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('usage:');
  });
});

describe('who reads the audit log', () => {
  it('shows a participant the reads of their study and a reviewer every entry', async () => {
    const participant = world.person('paula', [{ role: 'participant', studyId: 'audited' }]);
    const session = await world.signIn(participant);
    const mine = (await world.as(session, 'GET', '/api/v1/studies/audited/audit')).json<{ entries: { action: string; target?: string }[] }>().entries;
    expect(mine.some((entry) => entry.action === 'data.read')).toBe(true);
    expect(mine.every((entry) => !('target' in entry))).toBe(true);
    // Other participants' pairing and consent are not theirs to see.
    expect(mine.some((entry) => /^(consent|device)\./.test(entry.action))).toBe(false);
    expect(world.store.allAuditRows().some((row) => row.studyId === 'audited' && row.action === 'consent.given')).toBe(true);
    const reviewer = await world.signIn(world.person('rhea', [{ role: 'privacy_reviewer', studyId: null }]));
    const all = (await world.as(reviewer, 'GET', '/api/v1/audit?limit=1000')).json<{ entries: unknown[] }>().entries;
    expect(all.length).toBeGreaterThan(mine.length);
  });
});
