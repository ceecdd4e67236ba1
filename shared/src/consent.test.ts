import { describe, expect, it } from 'vitest';
import { canonicalHash, generateSigningKeyPair, randomId } from './crypto.ts';
import {
  countersignReceipt,
  receiptHash,
  signReceiptAsParticipant,
  verifyParticipantSignature,
  verifyServerCountersignature,
  type UnsignedReceipt,
} from './consent.ts';
import { ConsentReceipt } from './schemas/consent.ts';
import { parseUnknown } from './validation.ts';

const device = generateSigningKeyPair();
const server = generateSigningKeyPair();

const unsigned: UnsignedReceipt = {
  header: {
    schemaVersion: 'candor.consent-receipt/1',
    receiptId: '0b6c4c1e-2f1a-4c8e-9a55-0d8f3f0e7a11',
    jurisdiction: 'EU',
    language: 'en-GB',
    consentTimestamp: '2026-11-23T10:00:00.000Z',
    collectionMethod: 'tray consent window, study coding-practice v1',
    principalId: `p_${randomId()}`,
  },
  parties: {
    controllers: [{ name: 'Example Corp Research', address: '1 Example Street', contact: 'privacy@example.org' }],
    recipients: ['researcher'],
    aggregatorKeyId: randomId(),
  },
  notice: { version: 'coding-practice/1', contentHash: canonicalHash('the notice text') },
  processing: [
    {
      purpose: 'Train an assistant that suggests commands.',
      purposeCategory: 'ai-training',
      consentType: 'explicit',
      dataCategories: [{ category: 'keyboard activity', sensitivity: 'interaction' }],
      captureScope: {
        studyId: 'coding-practice',
        studyVersion: 1,
        scopeHash: canonicalHash({ scope: 1 }),
        signals: ['keyboard-activity'],
        apps: { allow: [], deny: [] },
        maxSessionMinutes: 60,
        neverLeavesDevice: ['which keys were pressed', 'window titles'],
      },
      storageLocations: ['this device (encrypted)', 'Candor server (encrypted per participant)'],
      retentionDays: 90,
      recipients: ['researcher'],
      privacyMechanisms: { redactionPolicyHash: canonicalHash('policy'), k: 10, epsilonPerRelease: 1, lifetimeEpsilon: 4 },
      withdrawalMethod: 'Withdraw in the Candor tray app or run `candor withdraw coding-practice`.',
    },
  ],
  event: { state: 'given', validUntil: '2027-02-21T10:00:00.000Z', performedBy: 'participant' },
  integrity: { previousReceiptHash: null },
};

describe('consent receipts', () => {
  it('are valid once signed by the participant, and verify', () => {
    const signed = parseUnknown(ConsentReceipt, signReceiptAsParticipant(unsigned, device));
    expect(verifyParticipantSignature(signed, device.publicKey)).toBe(true);
    expect(verifyServerCountersignature(signed, server.publicKey)).toBe(false);
  });

  it('carry a server countersignature that covers the participant signature', () => {
    const countersigned = countersignReceipt(signReceiptAsParticipant(unsigned, device), server);
    expect(verifyParticipantSignature(countersigned, device.publicKey)).toBe(true);
    expect(verifyServerCountersignature(countersigned, server.publicKey)).toBe(true);
    const otherParticipant = signReceiptAsParticipant(unsigned, generateSigningKeyPair());
    const swapped = { ...countersigned, integrity: { ...countersigned.integrity, participant: otherParticipant.integrity.participant } };
    expect(verifyServerCountersignature(swapped, server.publicKey)).toBe(false);
  });

  it.each([
    ['the retention', (r: ConsentReceipt) => ({ ...r, processing: r.processing.map((p) => ({ ...p, retentionDays: 180 })) })],
    ['the state', (r: ConsentReceipt) => ({ ...r, event: { ...r.event, state: 'withdrawn' as const } })],
    ['the chain link', (r: ConsentReceipt) => ({ ...r, integrity: { ...r.integrity, previousReceiptHash: 'e'.repeat(64) } })],
  ])('fail to verify when %s is changed after signing', (_, change) => {
    const signed = countersignReceipt(signReceiptAsParticipant(unsigned, device), server);
    const changed = change(signed);
    expect(verifyParticipantSignature(changed, device.publicKey)).toBe(false);
    expect(verifyServerCountersignature(changed, server.publicKey)).toBe(false);
  });

  it('chain: the next receipt names the hash of the previous one', () => {
    const first = signReceiptAsParticipant(unsigned, device);
    const next = signReceiptAsParticipant({ ...unsigned, integrity: { previousReceiptHash: receiptHash(first) } }, device);
    expect(next.integrity.previousReceiptHash).toBe(receiptHash(first));
    expect(receiptHash(first)).not.toBe(receiptHash(next));
  });

  it.each([
    ['an email as the principal', (r: ConsentReceipt) => ({ ...r, header: { ...r.header, principalId: 'jane@example.org' } }), 'header.principalId'],
    ['a local timestamp', (r: ConsentReceipt) => ({ ...r, header: { ...r.header, consentTimestamp: '2026-11-23 10:00' } }), 'header.consentTimestamp'],
    ['an implied consent', (r: ConsentReceipt) => ({ ...r, processing: r.processing.map((p) => ({ ...p, consentType: 'implied' })) }), 'processing[0].consentType'],
    ['k below the floor', (r: ConsentReceipt) => ({ ...r, processing: r.processing.map((p) => ({ ...p, privacyMechanisms: { ...p.privacyMechanisms, k: 3 } })) }), 'processing[0].privacyMechanisms.k'],
    ['a given consent that never expires', (r: ConsentReceipt) => ({ ...r, event: { ...r.event, validUntil: null } }), 'event.validUntil'],
    ['ai-training bundled with another purpose', (r: ConsentReceipt) => ({ ...r, processing: [...r.processing, { ...r.processing[0], purposeCategory: 'research' }] }), 'processing'],
    ['an unknown field', (r: ConsentReceipt) => ({ ...r, email: 'jane@example.org' }), ''],
  ])('reject %s', (_, change, path) => {
    const result = ConsentReceipt.safeParse(change(signReceiptAsParticipant(unsigned, device)));
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path.map(String).join('.').replace(/\.(\d+)/g, '[$1]'))).toContain(path);
  });
});
