/** What `candor status` says about the store, the server and the audit log, from the status the daemon answers. */
import { describe, expect, it } from 'vitest';
import { AgentStatus } from '@candor/shared/schemas/control';
import { describeStatus } from './output.ts';

const NOW = Date.UTC(2026, 10, 23, 12);

/** A stopped agent with nothing unusual to say, parsed as the CLI parses the daemon's answer. */
function status(changes: { storage?: Partial<AgentStatus['storage']>; auditContradictions?: number } = {}): AgentStatus {
  return AgentStatus.parse({
    state: 'stopped',
    study: { studyId: 'coding-practice', version: 1, title: 'How engineers use the terminal' },
    capturing: false,
    sessionEndsAt: null,
    pausedUntil: null,
    reason: 'no session is running',
    consentNeeded: false,
    refusedSignals: [],
    eventsAccepted: 0,
    eventsExcluded: 0,
    auditContradictions: changes.auditContradictions ?? 0,
    storage: {
      keyBackend: { kind: 'key-file', description: 'a key file readable only by you (/home/p/.local/share/candor/master-keys.json), because there is no D-Bus session bus' },
      windowsHeld: 3,
      dropped: { budget: 0, age: 0, rejected: 0, undecryptable: 0 },
      erasuresAwaitingAck: 0,
      uploadsTo: 'https://candor.example.org',
      uploadsRefused: null,
      ...changes.storage,
    },
  });
}

describe('candor status', () => {
  it('says where the master key is and why, what is held and where uploads go, and no warning when there is none', () => {
    const text = describeStatus(status(), NOW);
    expect(text).toContain('Held on this device: 3 windows, encrypted (review them with: candor pending).');
    expect(text).toContain('Master key kept in a key file readable only by you (/home/p/.local/share/candor/master-keys.json), because there is no D-Bus session bus.');
    expect(text).toContain('Uploads go to https://candor.example.org.');
    expect(text).not.toMatch(/Dropped|refuses|Warning|Erasure/);
  });

  it('counts windows dropped without being sent, by reason, and erasures not yet confirmed', () => {
    const text = describeStatus(status({ storage: { dropped: { budget: 2, age: 1, rejected: 0, undecryptable: 4 }, erasuresAwaitingAck: 1 } }), NOW);
    expect(text).toContain('Dropped without being sent: 2 windows, because the disk budget was full.');
    expect(text).toContain('Dropped without being sent: 1 window, because they waited too long to be sent.');
    expect(text).toContain('Dropped without being sent: 4 windows, because they could not be decrypted and verified.');
    expect(text).not.toContain('the server refused them');
    expect(text).toContain("Erasure requests waiting for the server's confirmation: 1 (retried until confirmed).");
  });

  it('says when the server refuses uploads, why and since when, and that the windows are kept', () => {
    const refused = { studyId: 'coding-practice', reason: 'the study is not open for uploads', since: '2026-11-23T11:00:00.000Z' };
    const text = describeStatus(status({ storage: { uploadsRefused: refused } }), NOW);
    expect(text).toContain('The server refuses uploads for coding-practice since 2026-11-23T11:00:00.000Z: the study is not open for uploads.');
    expect(text).toContain('The windows stay encrypted on this device and are tried again');
  });

  it('warns when the server contradicted its own audit checkpoints, and where the evidence is', () => {
    expect(describeStatus(status({ auditContradictions: 1 }), NOW)).toContain('Warning: the server signed an audit checkpoint that contradicts one it signed before, so entries of its audit log were lost or changed.');
    const twice = describeStatus(status({ auditContradictions: 2 }), NOW);
    expect(twice).toContain('Warning: the server signed 2 audit checkpoints that contradict ones it signed before');
    expect(twice).toContain('audit-contradictions.jsonl');
  });
});
