/**
 * Agents keep the server's signed audit checkpoints, so a server that later truncates or
 * rewrites its audit log is caught (issue 6, the audit log). A real Candor server on 127.0.0.1,
 * a real `candor daemon` process paired with it, and the real `candor-server audit verify`:
 * the checkpoints the agent kept match the live log, and on a copy of the log with its tail cut
 * off, or re-hashed after an edit, which each verify clean on their own, the agent's
 * checkpoints name the entry that is missing or changed. When the live server's log loses its
 * tail, the agent's next check keeps the evidence and `candor status` says so.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditCheckpointVerifies } from '@candor/shared/audit-checkpoint';
import { CHECKPOINTS_FILE, CONTRADICTIONS_FILE, newestCheckpoint, NEWEST_CHECKPOINT_FILE } from '../../agent/src/pair/checkpoints.ts';
import { hashAuditRow } from '../../server/src/audit/chain.ts';
import { loadOrCreateServerKeys } from '../../server/src/keys/files.ts';
import { waitFor } from '../support/wait.ts';
import { LIVENESS_MS, runCandor, startAgentBeside, type CliRun, type PairingServer } from './paired-agent.ts';

const STUDY = 'audited-study';
const SERVER_CLI = new URL('../../server/src/cli/main.ts', import.meta.url).pathname;

let root: string;
let close: () => Promise<void>;
let dataDir: string;
let server: PairingServer;

const candor = (command: string, ...args: string[]): Promise<CliRun> => runCandor(dataDir, command, ...args);

function auditVerify(db: string, checkpointFile?: string): { status: number | null; output: string } {
  const args = ['--import', 'tsx', SERVER_CLI, 'audit', 'verify', '--db', db, ...(checkpointFile === undefined ? [] : ['--checkpoint', checkpointFile])];
  const result = spawnSync(process.execPath, args, { encoding: 'utf8' });
  return { status: result.status, output: result.stdout + result.stderr };
}

type Row = { seq: number; at: string; actor: string; action: string; study_id: string | null; target: string | null; reason: string; outcome: string; hash: string };

/** A copy of the server's database and keys, edited as an insider with the file could (the append-only triggers dropped). */
function tamperedCopy(edit: (db: Database.Database) => void): string {
  server.world.store.compact();
  const dir = mkdtempSync(join(root, 'copy-'));
  copyFileSync(server.world.files.apiDb, join(dir, 'api.db'));
  copyFileSync(server.world.serverKeyFile, join(dir, 'server-keys.json'));
  const db = new Database(join(dir, 'api.db'));
  db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;');
  edit(db);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return join(dir, 'api.db');
}

beforeAll(async () => {
  ({ server, dataDir, root, close } = await startAgentBeside(STUDY, { enroll: true }));
}, 2 * LIVENESS_MS);

afterAll(() => close());

describe('audit checkpoints kept by a paired agent', () => {
  it('are signed by the server, follow the log as it grows, and match it', async () => {
    await waitFor(() => existsSync(join(dataDir, NEWEST_CHECKPOINT_FILE)), 'the agent to keep a checkpoint', LIVENESS_MS);
    const first = newestCheckpoint(dataDir);
    if (!first) throw new Error('no checkpoint');
    // The researcher reads the study's results: audited, so the log grows.
    for (let read = 0; read < 3; read += 1) expect((await server.world.as(server.researcher, 'GET', `/api/v1/studies/${STUDY}/releases`)).statusCode).toBe(200);
    await waitFor(
      async () => {
        expect((await candor('status')).code).toBe(0);
        return (newestCheckpoint(dataDir)?.checkpoint.seq ?? 0) > first.checkpoint.seq;
      },
      'the agent to keep a newer checkpoint at a server check',
      LIVENESS_MS,
    );
    const newest = newestCheckpoint(dataDir);
    const serverKey = loadOrCreateServerKeys(server.world.serverKeyFile).current.publicKey;
    expect(newest && auditCheckpointVerifies(newest, serverKey)).toBe(true);
    for (const file of [NEWEST_CHECKPOINT_FILE, CHECKPOINTS_FILE]) {
      const verified = auditVerify(server.world.files.apiDb, join(dataDir, file));
      expect(verified.status, verified.output).toBe(0);
      expect(verified.output).toMatch(/audit log intact: \d+ entries, matches/);
    }
  }, 2 * LIVENESS_MS);

  it('catch a log whose tail was cut off after the agent kept its checkpoint', () => {
    const seq = newestCheckpoint(dataDir)?.checkpoint.seq ?? 0;
    const copy = tamperedCopy((db) => db.prepare('DELETE FROM audit_log WHERE seq >= ?').run(seq));
    expect(auditVerify(copy).status).toBe(0);
    const verified = auditVerify(copy, join(dataDir, NEWEST_CHECKPOINT_FILE));
    expect(verified.status).toBe(1);
    expect(verified.output).toContain(`audit entry ${String(seq)}: checkpointed entry is missing (log truncated)`);
  });

  it('catch a log edited and re-hashed from the edit on, so that it verifies on its own', () => {
    const copy = tamperedCopy((db) => {
      const rows = db.prepare('SELECT * FROM audit_log ORDER BY seq').all() as Row[];
      let prevHash = '0'.repeat(64);
      const update = db.prepare('UPDATE audit_log SET reason = ?, prev_hash = ?, hash = ? WHERE seq = ?');
      for (const row of rows) {
        const reason = row.seq === 2 ? 'nothing to see' : row.reason;
        const hash = hashAuditRow({ seq: row.seq, at: row.at, actor: row.actor, action: row.action, studyId: row.study_id, target: row.target, reason, outcome: row.outcome, prevHash });
        update.run(reason, prevHash, hash, row.seq);
        prevHash = hash;
      }
    });
    expect(auditVerify(copy).status).toBe(0);
    const verified = auditVerify(copy, join(dataDir, CHECKPOINTS_FILE));
    expect(verified.status).toBe(1);
    expect(verified.output).toContain('checkpointed entry has another hash (log rewritten)');
  });

  it('are contradicted by a live server whose log lost its tail, and candor status says so', async () => {
    const held = newestCheckpoint(dataDir);
    if (!held) throw new Error('no checkpoint');
    const contradictions = async (): Promise<number> => (JSON.parse((await candor('status', '--json')).stdout) as { auditContradictions: number }).auditContradictions;
    expect(await contradictions()).toBe(0);
    // An insider with the database file deletes the newest entries under the running server.
    const db = new Database(server.world.files.apiDb);
    db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;');
    db.prepare('DELETE FROM audit_log WHERE seq >= ?').run(held.checkpoint.seq);
    db.close();
    let said = '';
    await waitFor(
      async () => {
        said = (await candor('status')).stdout;
        return said.includes('Warning: the server signed an audit checkpoint that contradicts one it signed before');
      },
      'candor status to warn of the contradiction',
      LIVENESS_MS,
    );
    expect(said).toContain('audit-contradictions.jsonl');
    expect(await contradictions()).toBe(1);
    // The evidence: the checkpoint held and the one that contradicts it, both signed; the newest held is not replaced.
    const evidence = readFileSync(join(dataDir, CONTRADICTIONS_FILE), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { verdict: string; held: typeof held; offered: typeof held });
    expect(evidence).toHaveLength(1);
    const serverKey = loadOrCreateServerKeys(server.world.serverKeyFile).current.publicKey;
    expect(evidence[0]?.held).toEqual(held);
    expect(evidence[0]?.offered.checkpoint.seq).toBeLessThan(held.checkpoint.seq);
    expect(evidence[0] && auditCheckpointVerifies(evidence[0].offered, serverKey)).toBe(true);
    expect(newestCheckpoint(dataDir)).toEqual(held);
    // The evidence file, handed to the server's verifier, names the entry the log lost.
    const verified = auditVerify(server.world.files.apiDb, join(dataDir, CONTRADICTIONS_FILE));
    expect(verified.status, verified.output).toBe(1);
    // (Missing, or another hash should the server have logged something since the deletion.)
    expect(verified.output).toMatch(new RegExp(`audit entry ${String(held.checkpoint.seq)}: checkpointed entry (is missing \\(log truncated\\)|has another hash)`));
  }, 2 * LIVENESS_MS);
});
