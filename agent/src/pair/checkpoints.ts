/**
 * The server's signed audit checkpoints this agent holds (docs/audit.md). A server that later
 * loses entries from its audit log, or re-hashes it, cannot make the checkpoints it signed
 * earlier agree: `candor-server audit verify --checkpoint <this file>` finds the entry a
 * checkpoint names missing or changed. The agent also judges each new checkpoint against the
 * newest it holds, and keeps any pair that contradicts itself as evidence.
 *
 * `audit-checkpoint.json`: the newest checkpoint seen, the one each new one is judged against.
 * `audit-checkpoints.jsonl`: a history, one a line, oldest first: one every `KEEP_EVERY_MS` of
 * this device's clock at most while the log grows (about 37 KB a day), the oldest dropped past
 * `MAX_KEPT` (four weeks). `audit-contradictions.jsonl`: each contradiction seen, a repeat of
 * the last one not again, at most `MAX_CONTRADICTIONS`. All hold public, signed statements only
 * (sequence numbers and hashes), nothing of any participant. A file damaged on disk (a torn last
 * line, say) costs what it held, never the checks: the unreadable part is set aside or dropped.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AuditCheckpoint, AuditContradiction } from '@candor/shared/audit-checkpoint';
import { parseJsonOrUndefined } from '@candor/shared/validation';
import { writeKeyFile } from '../keys/key-file.ts';

export const NEWEST_CHECKPOINT_FILE = 'audit-checkpoint.json';
export const CHECKPOINTS_FILE = 'audit-checkpoints.jsonl';
export const CONTRADICTIONS_FILE = 'audit-contradictions.jsonl';
export const KEEP_EVERY_MS = 10 * 60_000;
export const MAX_KEPT = 4_000;
export const MAX_CONTRADICTIONS = 1_000;

/**
 * What a new checkpoint says beside the newest one held: `first`, `advanced` (the log grew) or
 * `unchanged`; or a contradiction: `truncated` (it stops before an entry the server signed
 * before) or `rewritten` (the same entry with another hash).
 */
export type CheckpointVerdict = 'first' | 'advanced' | 'unchanged' | 'truncated' | 'rewritten';

const parseCheckpoint = (text: string): AuditCheckpoint | undefined => parseJsonOrUndefined(AuditCheckpoint, text);
const parseContradiction = (text: string): AuditContradiction | undefined => parseJsonOrUndefined(AuditContradiction, text);

/** The lines of a JSON-lines file, an unreadable one (a torn last line) left out. */
function readLines<T>(path: string, parse: (line: string) => T | undefined): { values: T[]; lines: string[]; damaged: boolean } {
  if (!existsSync(path)) return { values: [], lines: [], damaged: false };
  const values: T[] = [];
  const lines: string[] = [];
  let damaged = false;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue;
    const value = parse(line);
    if (value === undefined) {
      damaged = true;
      continue;
    }
    values.push(value);
    lines.push(line);
  }
  return { values, lines, damaged };
}

/** Appends one line and syncs it: what the agent keeps as evidence survives a power cut. */
function appendLine(path: string, line: string): void {
  const fd = openSync(path, 'a', 0o600);
  try {
    writeSync(fd, `${line}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The history of checkpoints held in `dataDir`, oldest first. */
export function readCheckpoints(dataDir: string): AuditCheckpoint[] {
  return readLines(join(dataDir, CHECKPOINTS_FILE), parseCheckpoint).values;
}

/** The newest checkpoint seen, or undefined; a file that does not read as one is moved aside (`.damaged`). */
export function newestCheckpoint(dataDir: string): AuditCheckpoint | undefined {
  const path = join(dataDir, NEWEST_CHECKPOINT_FILE);
  if (!existsSync(path)) return undefined;
  const newest = parseCheckpoint(readFileSync(path, 'utf8'));
  if (newest === undefined) renameSync(path, `${path}.damaged`);
  return newest;
}

/**
 * Judges a checkpoint whose signature the caller has verified against the newest one seen.
 * One that advances becomes the newest, and joins the history when the history was last written
 * `KEEP_EVERY_MS` ago by this device's clock; one that contradicts is recorded beside the one it
 * contradicts and replaces nothing.
 */
export function keepCheckpoint(dataDir: string, offered: AuditCheckpoint, now: number): CheckpointVerdict {
  const newest = newestCheckpoint(dataDir);
  const verdict = judge(newest, offered);
  if (verdict === 'unchanged') return verdict;
  if (verdict === 'truncated' || verdict === 'rewritten') {
    if (newest) recordContradiction(dataDir, { seenAt: new Date(now).toISOString(), verdict, held: newest, offered });
    return verdict;
  }
  writeKeyFile(join(dataDir, NEWEST_CHECKPOINT_FILE), JSON.stringify(offered));
  const path = join(dataDir, CHECKPOINTS_FILE);
  if (existsSync(path) && now - statSync(path).mtimeMs < KEEP_EVERY_MS) return verdict;
  const { lines, damaged } = readLines(path, parseCheckpoint);
  const line = JSON.stringify(offered);
  if (!damaged && lines.length < MAX_KEPT) appendLine(path, line);
  else writeKeyFile(path, [...lines.slice(Math.max(0, lines.length - MAX_KEPT + 1)), line].map((kept) => `${kept}\n`).join(''));
  return verdict;
}

/** How many contradictions `dataDir` holds evidence of: what `candor status` warns of. */
export function countContradictions(dataDir: string): number {
  return readLines(join(dataDir, CONTRADICTIONS_FILE), parseContradiction).values.length;
}

function recordContradiction(dataDir: string, contradiction: AuditContradiction): void {
  const path = join(dataDir, CONTRADICTIONS_FILE);
  const { values, lines, damaged } = readLines(path, parseContradiction);
  const last = values.at(-1);
  const same = (a: AuditCheckpoint, b: AuditCheckpoint): boolean => a.checkpoint.seq === b.checkpoint.seq && a.checkpoint.hash === b.checkpoint.hash;
  if (last && same(last.held, contradiction.held) && same(last.offered, contradiction.offered)) return;
  if (values.length >= MAX_CONTRADICTIONS) return;
  const line = JSON.stringify(contradiction);
  // Appended to a torn line, the new one would be torn too: rewrite without it instead.
  if (damaged) writeKeyFile(path, [...lines, line].map((kept) => `${kept}\n`).join(''));
  else appendLine(path, line);
}

function judge(newest: AuditCheckpoint | undefined, offered: AuditCheckpoint): CheckpointVerdict {
  if (!newest) return 'first';
  const [held, next] = [newest.checkpoint, offered.checkpoint];
  if (next.seq > held.seq) return 'advanced';
  if (next.seq < held.seq) return 'truncated';
  return next.hash === held.hash ? 'unchanged' : 'rewritten';
}
