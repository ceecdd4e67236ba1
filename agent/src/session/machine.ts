/**
 * The session state machine (privacy invariant 1): not enrolled → enrolled in study version v
 * → running ↔ paused → stopped. Pure functions of (snapshot, command, now): the daemon owns the
 * clock, the timers and the hook, and asks `captureAllowed` after every transition, so the hook
 * runs exactly when this module says it may. Each change returns its reason, for the journal.
 */
import { CandorError, assertNever } from '@candor/shared/errors';
import type { SessionState } from '@candor/shared/schemas/control';
import { formatDuration } from './duration.ts';

/** Consent given to one study version. Times are milliseconds since the Unix epoch. */
export type Enrollment = {
  studyId: string;
  version: number;
  title: string;
  maxSessionMinutes: number;
  /** The earlier of the consent's validity and the study's end: capture stops there. */
  consentValidUntil: number;
  receiptHash: string;
};

export type SessionSnapshot =
  | { state: 'not-enrolled' }
  | { state: 'enrolled'; enrollment: Enrollment }
  | { state: 'running'; enrollment: Enrollment; endsAt: number }
  | { state: 'paused'; enrollment: Enrollment; endsAt: number; pausedUntil: number | null }
  | { state: 'stopped'; enrollment: Enrollment };

/** The study version currently offered (from study files now, from the server once paired). */
export type OfferedStudy = { studyId: string; version: number } | null;

export type Transition = { from: SessionState; to: SessionState; reason: string };
export type Step = { snapshot: SessionSnapshot; transition: Transition | null };

export const NOT_ENROLLED: SessionSnapshot = { state: 'not-enrolled' };

const MINUTE_MS = 60_000;

function moved(from: SessionSnapshot, to: SessionSnapshot, reason: string): Step {
  return { snapshot: to, transition: { from: from.state, to: to.state, reason } };
}

function enrollmentOf(snapshot: SessionSnapshot): Enrollment | null {
  return snapshot.state === 'not-enrolled' ? null : snapshot.enrollment;
}

/** Why capture may not run under this enrollment now, or null when it may. */
export function consentProblem(enrollment: Enrollment, offered: OfferedStudy, now: number): string | null {
  if (offered?.studyId !== enrollment.studyId) return `study ${enrollment.studyId} is no longer offered`;
  if (offered.version !== enrollment.version) {
    return `study ${enrollment.studyId} has a new version (${offered.version}); read it and consent again with: candor enroll ${enrollment.studyId}`;
  }
  if (now >= enrollment.consentValidUntil) return `consent to ${enrollment.studyId} has expired; consent again with: candor enroll ${enrollment.studyId}`;
  return null;
}

/** True only for a running, unexpired session under valid consent to the offered version. */
export function captureAllowed(snapshot: SessionSnapshot, offered: OfferedStudy, now: number): boolean {
  return snapshot.state === 'running' && now < snapshot.endsAt && consentProblem(snapshot.enrollment, offered, now) === null;
}

/**
 * Consent to one study version (first time, re-consent to a new version, or re-affirmation).
 * @throws CandorError `session.active` while a session runs or is paused, or
 * `consent.other-study` when enrolled in a different study.
 */
export function enroll(snapshot: SessionSnapshot, enrollment: Enrollment): Step {
  const current = enrollmentOf(snapshot);
  if (snapshot.state === 'running' || snapshot.state === 'paused') {
    throw new CandorError('session.active', 'stop the current session before consenting again');
  }
  if (current && current.studyId !== enrollment.studyId) {
    throw new CandorError('consent.other-study', `already enrolled in ${current.studyId}; withdraw from it first`);
  }
  const reason = current ? `consented again to ${enrollment.studyId} version ${enrollment.version}` : `consented to ${enrollment.studyId} version ${enrollment.version}`;
  return moved(snapshot, { state: 'enrolled', enrollment }, reason);
}

/**
 * Starts a session of at most the study's maximum length (shorter when `forMs` asks).
 * @throws CandorError `consent.missing`, `consent.outdated` (new version, expired consent,
 * study withdrawn), `session.active` or `session.paused`.
 */
export function start(snapshot: SessionSnapshot, offered: OfferedStudy, now: number, forMs?: number): Step {
  switch (snapshot.state) {
    case 'not-enrolled':
      throw new CandorError('consent.missing', 'not enrolled in a study; see candor studies, then candor enroll STUDY');
    case 'running':
      throw new CandorError('session.active', 'a session is already running');
    case 'paused':
      throw new CandorError('session.paused', 'the session is paused; resume it with candor resume');
    case 'enrolled':
    case 'stopped': {
      const problem = consentProblem(snapshot.enrollment, offered, now);
      if (problem !== null) throw new CandorError('consent.outdated', problem);
      const maxMs = snapshot.enrollment.maxSessionMinutes * MINUTE_MS;
      const lengthMs = Math.min(forMs ?? maxMs, maxMs);
      const endsAt = Math.min(now + lengthMs, snapshot.enrollment.consentValidUntil);
      return moved(snapshot, { state: 'running', enrollment: snapshot.enrollment, endsAt }, `session started for ${formatDuration(endsAt - now)}`);
    }
    default:
      return assertNever(snapshot, 'session state');
  }
}

/**
 * Pauses a running session, until resumed or for `forMs`.
 * @throws CandorError `session.not-running`.
 */
export function pause(snapshot: SessionSnapshot, now: number, forMs?: number): Step {
  if (snapshot.state !== 'running') throw new CandorError('session.not-running', 'no session is running');
  const pausedUntil = forMs === undefined ? null : now + forMs;
  const reason = forMs === undefined ? 'paused until resumed' : `paused for ${formatDuration(forMs)}`;
  return moved(snapshot, { state: 'paused', enrollment: snapshot.enrollment, endsAt: snapshot.endsAt, pausedUntil }, reason);
}

/**
 * Resumes a paused session; the session keeps its original end.
 * @throws CandorError `session.not-paused` or `consent.outdated`.
 */
export function resume(snapshot: SessionSnapshot, offered: OfferedStudy, now: number, reason = 'resumed'): Step {
  if (snapshot.state !== 'paused') throw new CandorError('session.not-paused', 'the session is not paused');
  const problem = consentProblem(snapshot.enrollment, offered, now);
  if (problem !== null) throw new CandorError('consent.outdated', problem);
  return moved(snapshot, { state: 'running', enrollment: snapshot.enrollment, endsAt: snapshot.endsAt }, reason);
}

/** @throws CandorError `session.not-running` when there is no running or paused session. */
export function stop(snapshot: SessionSnapshot, reason = 'stopped by the participant'): Step {
  if (snapshot.state !== 'running' && snapshot.state !== 'paused') throw new CandorError('session.not-running', 'no session is running');
  return moved(snapshot, { state: 'stopped', enrollment: snapshot.enrollment }, reason);
}

/** @throws CandorError `consent.missing` when not enrolled in that study. */
export function withdraw(snapshot: SessionSnapshot, studyId: string): Step {
  if (enrollmentOf(snapshot)?.studyId !== studyId) throw new CandorError('consent.missing', `not enrolled in ${studyId}`);
  return moved(snapshot, NOT_ENROLLED, `withdrew from ${studyId}`);
}

/**
 * What time alone (and a changed study) does: sessions expire, timed pauses end, consent
 * runs out, a new study version stops capture. Returns a step with no transition when nothing
 * is due.
 */
export function tick(snapshot: SessionSnapshot, offered: OfferedStudy, now: number): Step {
  if (snapshot.state !== 'running' && snapshot.state !== 'paused') return { snapshot, transition: null };
  const problem = consentProblem(snapshot.enrollment, offered, now);
  if (problem !== null) return stop(snapshot, `capture stopped: ${problem}`);
  if (now >= snapshot.endsAt) return stop(snapshot, 'the session reached its end');
  if (snapshot.state === 'paused' && snapshot.pausedUntil !== null && now >= snapshot.pausedUntil) {
    return resume(snapshot, offered, now, 'the timed pause ended');
  }
  return { snapshot, transition: null };
}

/** A restarted agent never continues a session on its own: the participant starts a new one. */
export function afterRestart(snapshot: SessionSnapshot): Step {
  if (snapshot.state !== 'running' && snapshot.state !== 'paused') return { snapshot, transition: null };
  return stop(snapshot, 'the agent restarted; start a new session to capture again');
}

/** The next instant at which `tick` may change something, or null. */
export function nextDeadline(snapshot: SessionSnapshot): number | null {
  if (snapshot.state === 'running') return Math.min(snapshot.endsAt, snapshot.enrollment.consentValidUntil);
  if (snapshot.state === 'paused') {
    return Math.min(snapshot.endsAt, snapshot.enrollment.consentValidUntil, snapshot.pausedUntil ?? Number.POSITIVE_INFINITY);
  }
  return null;
}
