/**
 * Consent receipts kept on this device: each enrollment or withdrawal is a receipt signed by
 * the study-scoped device key (held wrapped in the store, the same key that signs uploads)
 * and chained to the previous one. The server countersigns them once the agent
 * is paired (not yet: `integrity.server` stays null and the docs say so).
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { receiptHash, signReceiptAsParticipant, type UnsignedReceipt } from '@candor/shared/consent';
import { canonicalHash, randomId, wipe, type SigningKeyPair } from '@candor/shared/crypto';
import { CandorError } from '@candor/shared/errors';
import { ConsentReceipt, Pseudonym } from '@candor/shared/schemas/consent';
import { Slug } from '@candor/shared/schemas/primitives';
import { captureScopeOf, type StudyVersion } from '@candor/shared/schemas/study';
import type { ConsentNotice } from '@candor/shared/schemas/control';
import { parseUnknown } from '@candor/shared/validation';
import { SIGNAL_SCOPE } from './notice.ts';

/**
 * A study read from a file has no aggregator key yet; receipts name this all-zero id until
 * pairing with the server supplies the real one (docs/agent.md, "Consent").
 */
export const UNPAIRED_AGGREGATOR_KEY_ID = 'AAAAAAAAAAAAAAAAAAAAAA';

const DAY_MS = 24 * 60 * 60 * 1000;

const ConsentFile = z.strictObject({ pseudonyms: z.record(Slug, Pseudonym), lastReceiptHash: z.string().nullable() });

/** Hands out a copy of the study's device signing key; the caller wipes its secret. */
export type DeviceKeySource = (studyId: string) => SigningKeyPair;

export type ConsentRecords = {
  /** Signs and keeps a receipt; returns it with its hash (the next receipt's chain link). */
  record(study: StudyVersion, notice: ConsentNotice, state: 'given' | 'withdrawn', now: number): { receipt: ConsentReceipt; hash: string; validUntil: number };
  receipts(): ConsentReceipt[];
};

/**
 * Opens the receipts in `dir`; `deviceKey` supplies the study-scoped signing key.
 * @throws ValidationError when a file there is damaged.
 */
export function openConsentRecords(dir: string, deviceKey: DeviceKeySource): ConsentRecords {
  const statePath = join(dir, 'consent.json');
  const receiptsPath = join(dir, 'receipts.jsonl');
  const state = existsSync(statePath)
    ? parseUnknown(ConsentFile, JSON.parse(readFileSync(statePath, 'utf8')), 'consent file')
    : { pseudonyms: {}, lastReceiptHash: null };

  return {
    record(study, notice, eventState, now) {
      const pseudonym = (state.pseudonyms[study.studyId] ??= `p_${randomId()}`);
      const validUntil = Math.min(now + study.consentValidityDays * DAY_MS, Date.parse(study.endsAt));
      const unsigned = unsignedReceipt(study, notice, pseudonym, eventState, now, validUntil, state.lastReceiptHash);
      const device = deviceKey(study.studyId);
      let signed;
      try {
        signed = signReceiptAsParticipant(unsigned, device);
      } finally {
        wipe(device.secretKey);
      }
      const receipt = parseUnknown(ConsentReceipt, signed, 'consent receipt');
      const hash = receiptHash(receipt);
      appendFileSync(receiptsPath, `${JSON.stringify(receipt)}\n`, { mode: 0o600 });
      state.lastReceiptHash = hash;
      writeFileSync(statePath, JSON.stringify(state), { mode: 0o600 });
      return { receipt, hash, validUntil };
    },
    receipts() {
      if (!existsSync(receiptsPath)) return [];
      return readFileSync(receiptsPath, 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => parseUnknown(ConsentReceipt, JSON.parse(line), 'stored receipt'));
    },
  };
}

function unsignedReceipt(
  study: StudyVersion,
  notice: ConsentNotice,
  principalId: string,
  state: 'given' | 'withdrawn',
  now: number,
  validUntil: number,
  previousReceiptHash: string | null,
): UnsignedReceipt {
  if (notice.studyId !== study.studyId || notice.version !== study.version) {
    throw new CandorError('consent.notice-mismatch', 'the notice is not the one for this study version');
  }
  return {
    header: {
      schemaVersion: 'candor.consent-receipt/1',
      receiptId: randomUUID(),
      jurisdiction: 'not stated by the study',
      language: 'en',
      consentTimestamp: new Date(now).toISOString(),
      collectionMethod: `candor agent, study ${study.studyId} v${study.version}`,
      principalId,
    },
    parties: { controllers: [study.controller], recipients: study.recipients, aggregatorKeyId: UNPAIRED_AGGREGATOR_KEY_ID },
    notice: { version: `${study.studyId}/${study.version}`, contentHash: notice.noticeHash },
    processing: [
      {
        purpose: study.purpose,
        purposeCategory: study.purposeCategory,
        consentType: 'explicit',
        dataCategories: study.signals.map((signal) => ({ category: signal, sensitivity: SIGNAL_SCOPE[signal].sensitivity })),
        captureScope: {
          studyId: study.studyId,
          studyVersion: study.version,
          scopeHash: canonicalHash(captureScopeOf(study)),
          signals: study.signals,
          apps: study.apps,
          maxSessionMinutes: study.maxSessionMinutes,
          neverLeavesDevice: study.signals.map((signal) => SIGNAL_SCOPE[signal].never),
        },
        storageLocations: ['this device, encrypted', 'Candor server, sealed to the study key'],
        retentionDays: study.retentionDays,
        recipients: study.recipients,
        privacyMechanisms: {
          redactionPolicyHash: study.redactionPolicy.hash,
          k: study.k,
          epsilonPerRelease: study.dp.epsilonPerRelease,
          lifetimeEpsilon: study.dp.lifetimeEpsilon,
        },
        withdrawalMethod: `candor withdraw ${study.studyId}, or Withdraw in the Candor tray app`,
      },
    ],
    event: { state, validUntil: state === 'given' ? new Date(validUntil).toISOString() : null, performedBy: 'participant' },
    integrity: { previousReceiptHash },
  };
}
