/** How the CLI speaks: plain sentences for people, JSON with --json, exit codes that mean something. */
import type { AgentStatus, SessionTransition } from '@candor/shared/schemas/control';
import { formatDuration } from '../session/duration.ts';

/** Exit codes (docs/agent.md). */
export const EXIT = {
  ok: 0,
  /** The agent understood and refused (no consent, no session, stale notice…). */
  refused: 1,
  /** The command line itself is wrong. */
  usage: 2,
  /** No agent answers on the socket (or it broke the protocol). */
  unreachable: 3,
  /** The daemon could not start. */
  daemonFailed: 4,
  /** The Candor server could not be reached, did not prove its identity (TLS), or answered outside the contract. */
  server: 5,
  /** A bug in Candor (EX_SOFTWARE). */
  internal: 70,
} as const;

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

function until(iso: string, now: number): string {
  return `${iso.slice(11, 16)} UTC, in ${formatDuration(Date.parse(iso) - now)}`;
}

export function describeStatus(status: AgentStatus, now = Date.now()): string {
  const lines: string[] = [];
  const study = status.study ? `${status.study.title} (${status.study.studyId} v${status.study.version})` : null;
  switch (status.state) {
    case 'not-enrolled':
      lines.push('Not enrolled in any study. See the studies with: candor studies');
      break;
    case 'enrolled':
      lines.push(`Enrolled in ${study ?? 'a study'}. No session is running; ${status.consentNeeded === true ? 'one can start once you consent again (below).' : 'start one with: candor start'}`);
      break;
    case 'running':
      lines.push(`Session running for ${study ?? 'a study'}${status.sessionEndsAt ? `, ends at ${until(status.sessionEndsAt, now)}` : ''}.`);
      break;
    case 'paused':
      lines.push(`Session paused${status.pausedUntil ? ` until ${until(status.pausedUntil, now)}` : ' until you resume it (candor resume)'}.`);
      break;
    case 'stopped':
      lines.push(`Enrolled in ${study ?? 'a study'}. The last session has stopped; ${status.consentNeeded === true ? 'another can start once you consent again (below).' : 'start another with: candor start'}`);
      break;
  }
  lines.push(status.capturing ? 'Capturing: yes — keyboard and mouse activity is being captured now.' : `Capturing: no${status.reason ? ` (${status.reason})` : ''}.`);
  if (status.state === 'running' || status.state === 'paused') {
    lines.push(`This session: ${status.eventsAccepted} events captured, ${status.eventsExcluded} dropped in excluded applications.`);
  }
  for (const refused of status.refusedSignals) lines.push(`Not collected: ${refused.signal} — ${refused.reason}.`);
  lines.push(...describeStorage(status.storage));
  if (status.auditContradictions > 0) {
    const what = status.auditContradictions === 1 ? 'an audit checkpoint that contradicts one' : `${String(status.auditContradictions)} audit checkpoints that contradict ones`;
    lines.push(
      `Warning: the server signed ${what} it signed before, so entries of its audit log were lost or changed. ` +
        'The evidence is kept in audit-contradictions.jsonl in the data directory; give it to your privacy contact (candor-server audit verify --checkpoint checks it).',
    );
  }
  return lines.join('\n');
}

export function describeTransition(transition: SessionTransition): string {
  const study = transition.studyId === null ? '' : ` [${transition.studyId} v${transition.version ?? '?'}]`;
  return `${transition.at}  ${transition.from} → ${transition.to}${study}: ${transition.reason}`;
}

const DROP_REASONS: Readonly<Record<keyof AgentStatus['storage']['dropped'], string>> = {
  budget: 'the disk budget was full',
  age: 'they waited too long to be sent',
  rejected: 'the server refused them',
  undecryptable: 'they could not be decrypted and verified',
};

function describeStorage(storage: AgentStatus['storage']): string[] {
  const windows = storage.windowsHeld === 1 ? '1 window' : `${String(storage.windowsHeld)} windows`;
  const lines = [
    `Held on this device: ${windows}, encrypted (review them with: candor pending).`,
    `Master key kept in ${storage.keyBackend.description}.`,
    storage.uploadsTo === null ? 'Uploads: none configured; nothing leaves this device.' : `Uploads go to ${storage.uploadsTo}.`,
  ];
  for (const [reason, count] of Object.entries(storage.dropped) as [keyof typeof DROP_REASONS, number][]) {
    if (count > 0) lines.push(`Dropped without being sent: ${String(count)} window${count === 1 ? '' : 's'}, because ${DROP_REASONS[reason]}.`);
  }
  if (storage.uploadsRefused) {
    lines.push(
      `The server refuses uploads for ${storage.uploadsRefused.studyId} since ${storage.uploadsRefused.since}: ${storage.uploadsRefused.reason}. ` +
        'The windows stay encrypted on this device and are tried again; review or delete them with: candor pending.',
    );
  }
  if (storage.erasuresAwaitingAck > 0) lines.push(`Erasure requests waiting for the server's confirmation: ${String(storage.erasuresAwaitingAck)} (retried until confirmed).`);
  return lines;
}
