/** The agent's audit checkpoints on disk: what it keeps, what it judges a contradiction, what stays bounded, and damage it survives. */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { signAuditCheckpoint, type AuditCheckpoint } from '@candor/shared/audit-checkpoint';
import { generateSigningKeyPair } from '@candor/shared/crypto';
import {
  CHECKPOINTS_FILE,
  CONTRADICTIONS_FILE,
  countContradictions,
  keepCheckpoint,
  KEEP_EVERY_MS,
  MAX_KEPT,
  newestCheckpoint,
  NEWEST_CHECKPOINT_FILE,
  readCheckpoints,
} from './checkpoints.ts';

const server = generateSigningKeyPair();
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'candor-checkpoints-'));
  dirs.push(dir);
  return dir;
}

/** A checkpoint at entry `seq`, whose hash stands for that entry's `version`, dated as the server likes. */
function checkpoint(seq: number, version = 'a', signedAt = '2026-11-23T09:00:00.000Z'): AuditCheckpoint {
  const hash = Buffer.from(`${String(seq)}-${version}`.padEnd(32, '.')).toString('hex');
  return signAuditCheckpoint({ seq, hash, signedAt, serverKeyId: server.keyId }, server);
}

/** As if the history had last been written `ms` ago by this device's clock. */
function historyWritten(dir: string, ms: number): void {
  const at = new Date(Date.now() - ms);
  utimesSync(join(dir, CHECKPOINTS_FILE), at, at);
}

const contradictions = (dir: string): { verdict: string; held: AuditCheckpoint; offered: AuditCheckpoint }[] =>
  existsSync(join(dir, CONTRADICTIONS_FILE))
    ? readFileSync(join(dir, CONTRADICTIONS_FILE), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { verdict: string; held: AuditCheckpoint; offered: AuditCheckpoint })
    : [];

describe('keeping audit checkpoints', () => {
  it('keeps the newest seen, and a history spaced by this device’s clock, only readable by the user', () => {
    const dir = dataDir();
    expect(keepCheckpoint(dir, checkpoint(10), Date.now())).toBe('first');
    expect(keepCheckpoint(dir, checkpoint(12), Date.now())).toBe('advanced');
    expect(keepCheckpoint(dir, checkpoint(12), Date.now())).toBe('unchanged');
    historyWritten(dir, KEEP_EVERY_MS);
    // The server's own dates do not space the history: one far in the future freezes nothing.
    expect(keepCheckpoint(dir, checkpoint(15, 'a', '2099-01-01T00:00:00.000Z'), Date.now())).toBe('advanced');
    historyWritten(dir, KEEP_EVERY_MS);
    expect(keepCheckpoint(dir, checkpoint(16), Date.now())).toBe('advanced');
    expect(newestCheckpoint(dir)).toEqual(checkpoint(16));
    // 12 came less than KEEP_EVERY_MS after 10: the newest then, not in the history.
    expect(readCheckpoints(dir).map((kept) => kept.checkpoint.seq)).toEqual([10, 15, 16]);
    for (const file of [NEWEST_CHECKPOINT_FILE, CHECKPOINTS_FILE]) expect(statSync(join(dir, file)).mode & 0o777).toBe(0o600);
    expect(contradictions(dir)).toEqual([]);
    expect(countContradictions(dir)).toBe(0);
  });

  it.each([
    ['a checkpoint that stops before an entry the server signed earlier', 'truncated', checkpoint(11)],
    ['the same entry under another hash', 'rewritten', checkpoint(12, 'b')],
  ] as const)('records %s beside the one it contradicts, once however often it is said, and keeps judging against the one held', (_, verdict, offered) => {
    const dir = dataDir();
    keepCheckpoint(dir, checkpoint(12), Date.now());
    const seenAt = Date.UTC(2026, 10, 23, 10);
    expect(keepCheckpoint(dir, offered, seenAt)).toBe(verdict);
    expect(keepCheckpoint(dir, offered, seenAt + 1000)).toBe(verdict);
    expect(contradictions(dir)).toEqual([{ seenAt: new Date(seenAt).toISOString(), verdict, held: checkpoint(12), offered }]);
    expect(countContradictions(dir)).toBe(1);
    expect(newestCheckpoint(dir)).toEqual(checkpoint(12));
    expect(readCheckpoints(dir)).toEqual([checkpoint(12)]);
  });

  it(`keeps at most ${String(MAX_KEPT)} checkpoints in its history, dropping the oldest`, () => {
    const dir = dataDir();
    // As if the agent had kept MAX_KEPT already.
    writeFileSync(join(dir, CHECKPOINTS_FILE), Array.from({ length: MAX_KEPT }, (_, index) => `${JSON.stringify(checkpoint(index + 1))}\n`).join(''), { mode: 0o600 });
    for (let seq = MAX_KEPT + 1; seq <= MAX_KEPT + 3; seq += 1) {
      historyWritten(dir, KEEP_EVERY_MS);
      keepCheckpoint(dir, checkpoint(seq), Date.now());
    }
    const history = readCheckpoints(dir);
    expect(history).toHaveLength(MAX_KEPT);
    expect(history[0]?.checkpoint.seq).toBe(4);
    expect(history.at(-1)?.checkpoint.seq).toBe(MAX_KEPT + 3);
  });

  it('survives its files damaged on disk: a torn last line is dropped, an unreadable newest is set aside', () => {
    const dir = dataDir();
    keepCheckpoint(dir, checkpoint(10), Date.now());
    appendFileSync(join(dir, CHECKPOINTS_FILE), '{"checkpoint":{"seq":11,"ha');
    writeFileSync(join(dir, NEWEST_CHECKPOINT_FILE), '');
    historyWritten(dir, KEEP_EVERY_MS);
    expect(keepCheckpoint(dir, checkpoint(12), Date.now())).toBe('first');
    expect(existsSync(join(dir, `${NEWEST_CHECKPOINT_FILE}.damaged`))).toBe(true);
    expect(newestCheckpoint(dir)).toEqual(checkpoint(12));
    expect(readFileSync(join(dir, CHECKPOINTS_FILE), 'utf8')).toBe(`${JSON.stringify(checkpoint(10))}\n${JSON.stringify(checkpoint(12))}\n`);
    // A torn contradiction is not counted, and the next is still kept and counted.
    appendFileSync(join(dir, CONTRADICTIONS_FILE), '{"seenAt":"2026-11-23T1');
    expect(countContradictions(dir)).toBe(0);
    expect(keepCheckpoint(dir, checkpoint(11), Date.now())).toBe('truncated');
    expect(countContradictions(dir)).toBe(1);
  });
});
