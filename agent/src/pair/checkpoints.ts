/**
 * The server's signed audit checkpoints this agent holds (docs/audit.md). A server that later
 * loses entries from its audit log, or re-hashes it, cannot make the checkpoints it signed
 * earlier agree: `candor-server audit verify --checkpoint <this file>` finds the entry a
 * checkpoint names missing or changed. The agent also judges each new checkpoint against the
 * newest it holds, and keeps any pair that contradicts itself as evidence.
 *
 * `audit-checkpoint.json`: the newest checkpoint seen, the one each new one is judged against.
 * `audit-checkpoints.jsonl`: a history, one a line, oldest first: one every `KEEP_EVERY_MS` at
 * most while the log grows (about 6 KB a day), the oldest dropped past `MAX_KEPT` (83 days).
 * `audit-contradictions.jsonl`: each contradiction seen, never trimmed. All hold public, signed
 * statements only (sequence numbers and hashes), nothing of any participant.
 */
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditCheckpoint } from '@candor/shared/audit-checkpoint';
import { parseUnknown } from '@candor/shared/validation';

export const NEWEST_CHECKPOINT_FILE = 'audit-checkpoint.json';
export const CHECKPOINTS_FILE = 'audit-checkpoints.jsonl';
export const CONTRADICTIONS_FILE = 'audit-contradictions.jsonl';
export const KEEP_EVERY_MS = 60 * 60_000;
export const MAX_KEPT = 2_000;

/**
 * What a new checkpoint says beside the newest one held: `first`, `advanced` (the log grew) or
 * `unchanged`; or a contradiction: `truncated` (it stops before an entry the server signed
 * before) or `rewritten` (the same entry with another hash).
 */
export type CheckpointVerdict = 'first' | 'advanced' | 'unchanged' | 'truncated' | 'rewritten';

/** The history of checkpoints held in `dataDir`, oldest first. @throws ValidationError when the file was damaged. */
export function readCheckpoints(dataDir: string): AuditCheckpoint[] {
  const path = join(dataDir, CHECKPOINTS_FILE);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => parseUnknown(AuditCheckpoint, JSON.parse(line) as unknown, CHECKPOINTS_FILE));
}

/** The newest checkpoint seen, or undefined. @throws ValidationError when the file was damaged. */
export function newestCheckpoint(dataDir: string): AuditCheckpoint | undefined {
  const path = join(dataDir, NEWEST_CHECKPOINT_FILE);
  return existsSync(path) ? parseUnknown(AuditCheckpoint, JSON.parse(readFileSync(path, 'utf8')) as unknown, NEWEST_CHECKPOINT_FILE) : undefined;
}

/** Replaces a file of the data dir in one step: a kill leaves the old or the new contents, never half. */
function replaceFile(path: string, contents: string): void {
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, contents, { mode: 0o600 });
  renameSync(temporary, path);
}

/**
 * Judges a checkpoint whose signature the caller has verified against the newest one seen.
 * One that advances becomes the newest and joins the history when the history's newest is
 * `KEEP_EVERY_MS` old; one that contradicts is recorded beside the one it contradicts and
 * replaces nothing.
 */
export function keepCheckpoint(dataDir: string, offered: AuditCheckpoint, now: number): CheckpointVerdict {
  const newest = newestCheckpoint(dataDir);
  const verdict = judge(newest, offered);
  if (verdict === 'unchanged') return verdict;
  if (verdict === 'truncated' || verdict === 'rewritten') {
    appendFileSync(join(dataDir, CONTRADICTIONS_FILE), `${JSON.stringify({ seenAt: new Date(now).toISOString(), verdict, held: newest, offered })}\n`, { mode: 0o600 });
    return verdict;
  }
  replaceFile(join(dataDir, NEWEST_CHECKPOINT_FILE), JSON.stringify(offered));
  const path = join(dataDir, CHECKPOINTS_FILE);
  const lines = existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((line) => line !== '') : [];
  const last = lines.at(-1);
  const lastSignedAt = last === undefined ? undefined : parseUnknown(AuditCheckpoint, JSON.parse(last) as unknown, CHECKPOINTS_FILE).checkpoint.signedAt;
  if (lastSignedAt !== undefined && Date.parse(offered.checkpoint.signedAt) - Date.parse(lastSignedAt) < KEEP_EVERY_MS) return verdict;
  const line = JSON.stringify(offered);
  if (lines.length < MAX_KEPT) appendFileSync(path, `${line}\n`, { mode: 0o600 });
  else replaceFile(path, [...lines.slice(lines.length - MAX_KEPT + 1), line].map((kept) => `${kept}\n`).join(''));
  return verdict;
}

function judge(newest: AuditCheckpoint | undefined, offered: AuditCheckpoint): CheckpointVerdict {
  if (!newest) return 'first';
  const [held, next] = [newest.checkpoint, offered.checkpoint];
  if (next.seq > held.seq) return 'advanced';
  if (next.seq < held.seq) return 'truncated';
  return next.hash === held.hash ? 'unchanged' : 'rewritten';
}
