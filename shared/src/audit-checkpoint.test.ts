import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { auditCheckpointVerifies, signAuditCheckpoint, type AuditCheckpointBody } from './audit-checkpoint.ts';
import { generateSigningKeyPair } from './crypto.ts';

const key = generateSigningKeyPair();
const other = generateSigningKeyPair();
const body = (seq: number, hash: string): AuditCheckpointBody => ({ seq, hash, signedAt: '2026-11-23T09:00:00.000Z', serverKeyId: key.keyId });
const hex = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => Buffer.from(bytes).toString('hex'));

describe('audit checkpoints', () => {
  it('verify under the signing key only, and not once any field changes', () => {
    fc.assert(
      fc.property(fc.nat(), hex, fc.nat(), hex, (seq, hash, otherSeq, otherHash) => {
        const signed = signAuditCheckpoint(body(seq, hash), key);
        expect(auditCheckpointVerifies(signed, key.publicKey)).toBe(true);
        expect(auditCheckpointVerifies(signed, other.publicKey)).toBe(false);
        const changed = { ...signed, checkpoint: body(otherSeq, otherHash) };
        expect(auditCheckpointVerifies(changed, key.publicKey)).toBe(seq === otherSeq && hash === otherHash);
        expect(auditCheckpointVerifies({ ...signed, checkpoint: { ...signed.checkpoint, signedAt: '2026-11-24T09:00:00.000Z' } }, key.publicKey)).toBe(false);
      }),
      { numRuns: 50 },
    );
  });
});
