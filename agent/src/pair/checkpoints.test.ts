/** The agent's audit checkpoints on disk: what it keeps, what it judges a contradiction, and what stays bounded. */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { signAuditCheckpoint, type AuditCheckpoint } from '@candor/shared/audit-checkpoint';
import { generateSigningKeyPair } from '@candor/shared/crypto';
import { CHECKPOINTS_FILE, CONTRADICTIONS_FILE, keepCheckpoint, KEEP_EVERY_MS, MAX_KEPT, newestCheckpoint, NEWEST_CHECKPOINT_FILE, readCheckpoints } from './checkpoints.ts';

const server = generateSigningKeyPair();
const START = Date.UTC(2026, 10, 23, 9);
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'candor-checkpoints-'));
  dirs.push(dir);
  return dir;
}

/** A checkpoint the server signs `minutes` after START at entry `seq`, whose hash stands for that entry's `version`. */
function checkpoint(seq: number, minutes: number, version = 'a'): AuditCheckpoint {
  const hash = Buffer.from(`${String(seq)}-${version}`.padEnd(32, '.')).toString('hex');
  return signAuditCheckpoint({ seq, hash, signedAt: new Date(START + minutes * 60_000).toISOString(), serverKeyId: server.keyId }, server);
}

const contradictions = (dir: string): { verdict: string; held: AuditCheckpoint; offered: AuditCheckpoint }[] =>
  existsSync(join(dir, CONTRADICTIONS_FILE))
    ? readFileSync(join(dir, CONTRADICTIONS_FILE), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { verdict: string; held: AuditCheckpoint; offered: AuditCheckpoint })
    : [];

describe('keeping audit checkpoints', () => {
  it('keeps the newest seen and an hourly history, only readable by the user', () => {
    const dir = dataDir();
    expect(keepCheckpoint(dir, checkpoint(10, 0), START)).toBe('first');
    expect(keepCheckpoint(dir, checkpoint(12, 10), START)).toBe('advanced');
    expect(keepCheckpoint(dir, checkpoint(12, 20), START)).toBe('unchanged');
    expect(keepCheckpoint(dir, checkpoint(15, 61), START)).toBe('advanced');
    expect(newestCheckpoint(dir)).toEqual(checkpoint(15, 61));
    // The 10-minute one is newer than the history's newest by less than an hour: not in the history.
    expect(readCheckpoints(dir).map((kept) => kept.checkpoint.seq)).toEqual([10, 15]);
    for (const file of [NEWEST_CHECKPOINT_FILE, CHECKPOINTS_FILE]) expect(statSync(join(dir, file)).mode & 0o777).toBe(0o600);
    expect(contradictions(dir)).toEqual([]);
    expect(KEEP_EVERY_MS).toBe(60 * 60_000);
  });

  it.each([
    ['a checkpoint that stops before an entry the server signed earlier', 'truncated', checkpoint(11, 30)],
    ['the same entry under another hash', 'rewritten', checkpoint(12, 30, 'b')],
  ] as const)('records %s beside the one it contradicts, and keeps judging against the one held', (_, verdict, offered) => {
    const dir = dataDir();
    keepCheckpoint(dir, checkpoint(12, 0), START);
    expect(keepCheckpoint(dir, offered, START + 1000)).toBe(verdict);
    expect(contradictions(dir)).toEqual([{ seenAt: new Date(START + 1000).toISOString(), verdict, held: checkpoint(12, 0), offered }]);
    expect(newestCheckpoint(dir)).toEqual(checkpoint(12, 0));
    expect(readCheckpoints(dir)).toEqual([checkpoint(12, 0)]);
    // Said again, it is recorded again: each is the server's own signed statement.
    expect(keepCheckpoint(dir, offered, START + 2000)).toBe(verdict);
    expect(contradictions(dir)).toHaveLength(2);
  });

  it(`keeps at most ${String(MAX_KEPT)} checkpoints in its history, dropping the oldest`, () => {
    const dir = dataDir();
    // As if the agent had run for MAX_KEPT hours.
    writeFileSync(join(dir, CHECKPOINTS_FILE), Array.from({ length: MAX_KEPT }, (_, hour) => `${JSON.stringify(checkpoint(hour + 1, hour * 60))}\n`).join(''));
    const hours = MAX_KEPT + 3;
    for (let hour = MAX_KEPT; hour < hours; hour += 1) expect(keepCheckpoint(dir, checkpoint(hour + 1, hour * 60), START)).toBe(hour === MAX_KEPT ? 'first' : 'advanced');
    const history = readCheckpoints(dir);
    expect(history).toHaveLength(MAX_KEPT);
    expect(history[0]?.checkpoint.seq).toBe(hours - MAX_KEPT + 1);
    expect(history.at(-1)?.checkpoint.seq).toBe(hours);
  });
});
