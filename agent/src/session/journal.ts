/**
 * The session's local record: the current snapshot (so a restart knows who consented to what)
 * and every transition with its reason, appended as JSON lines. Neither file ever holds event
 * data: only states, study ids, versions, times and reasons. Both are the owner's only (0600).
 */
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { CandorError } from '@candor/shared/errors';
import { HashHex, Slug } from '@candor/shared/schemas/primitives';
import { SessionTransition } from '@candor/shared/schemas/control';
import { parseUnknown } from '@candor/shared/validation';
import { NOT_ENROLLED, type SessionSnapshot, type Transition } from './machine.ts';

const Millis = z.int().min(0);
const Enrollment = z.strictObject({
  studyId: Slug,
  version: z.int().min(1),
  title: z.string(),
  maxSessionMinutes: z.int().min(1),
  consentValidUntil: Millis,
  receiptHash: HashHex,
});
const Snapshot = z.discriminatedUnion('state', [
  z.strictObject({ state: z.literal('not-enrolled') }),
  z.strictObject({ state: z.literal('enrolled'), enrollment: Enrollment }),
  z.strictObject({ state: z.literal('running'), enrollment: Enrollment, endsAt: Millis }),
  z.strictObject({ state: z.literal('paused'), enrollment: Enrollment, endsAt: Millis, pausedUntil: Millis.nullable() }),
  z.strictObject({ state: z.literal('stopped'), enrollment: Enrollment }),
]);

export type SessionJournal = {
  readonly snapshot: SessionSnapshot;
  /** Persists the new snapshot, then appends the transition. */
  record(snapshot: SessionSnapshot, transition: Transition, at: number): void;
  /** The latest transitions, oldest first. */
  history(limit: number): SessionTransition[];
};

/**
 * Opens (or creates) the journal in `dir`.
 * @throws ValidationError when a file there is not Candor's, or CandorError
 * `journal.unreadable` when it is not JSON.
 */
export function openSessionJournal(dir: string): SessionJournal {
  const statePath = join(dir, 'session.json');
  const historyPath = join(dir, 'transitions.jsonl');
  let snapshot: SessionSnapshot = existsSync(statePath) ? parseUnknown(Snapshot, readJson(statePath), 'session file') : NOT_ENROLLED;
  return {
    get snapshot() {
      return snapshot;
    },
    record(next, transition, at) {
      const enrollment = next.state === 'not-enrolled' ? (snapshot.state === 'not-enrolled' ? null : snapshot.enrollment) : next.enrollment;
      const temporary = `${statePath}.tmp`;
      writeFileSync(temporary, JSON.stringify(next), { mode: 0o600 });
      renameSync(temporary, statePath);
      snapshot = next;
      const entry: SessionTransition = {
        at: new Date(at).toISOString(),
        ...transition,
        studyId: enrollment?.studyId ?? null,
        version: enrollment?.version ?? null,
      };
      appendFileSync(historyPath, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
    },
    history(limit) {
      if (!existsSync(historyPath)) return [];
      const lines = readFileSync(historyPath, 'utf8').split('\n').filter((line) => line !== '');
      return lines.slice(-limit).map((line) => parseUnknown(SessionTransition, parseJson(line, historyPath), 'transition'));
    },
  };
}

function readJson(path: string): unknown {
  return parseJson(readFileSync(path, 'utf8'), path);
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new CandorError('journal.unreadable', `${path} is not valid JSON; move it aside to start afresh`);
  }
}
