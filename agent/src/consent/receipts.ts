/**
 * Consent receipts kept on this device: each enrollment or withdrawal is a receipt signed by
 * the study-scoped device key (held wrapped in the store, the same key that signs uploads)
 * and chained to the previous one signed by that key. For a paired study the receipt is first countersigned by
 * the server (agent.ts signs, sends, checks, then keeps); a study read from a file has no
 * server, so its receipts keep `integrity.server` null (docs/agent.md, "Consent").
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
 * A study read from a file has no aggregator; its receipts name this all-zero key id. A paired
 * study's receipts name the aggregator key pairing delivered (docs/agent.md, "Consent").
 */
export const UNPAIRED_AGGREGATOR_KEY_ID = 'AAAAAAAAAAAAAAAAAAAAAA';

const DAY_MS = 24 * 60 * 60 * 1000;

/** `lastReceiptHash` was one chain head for all studies; chains are per device key now, read from receipts.jsonl. */
const ConsentFile = z.strictObject({ pseudonyms: z.record(Slug, Pseudonym), lastReceiptHash: z.string().nullable().optional() });

/** Hands out a copy of the study's device signing key; the caller wipes its secret. */
export type DeviceKeySource = (studyId: string) => SigningKeyPair;

export type SignedReceipt = { receipt: ConsentReceipt; validUntil: number; pseudonym: string; studyId: string };

export type ConsentRecords = {
  /** Signs and keeps a receipt; returns it with its hash (the next receipt's chain link). */
  record(study: StudyVersion, notice: ConsentNotice, state: 'given' | 'withdrawn', now: number, aggregatorKeyId: string): { receipt: ConsentReceipt; hash: string; validUntil: number };
  /** Signs a receipt chained to the last one kept, and keeps nothing: `keep` does, once it is accepted. */
  sign(study: StudyVersion, notice: ConsentNotice, state: 'given' | 'withdrawn', now: number, aggregatorKeyId: string): SignedReceipt;
  /**
   * Keeps `receipt` (the signed one, or the server's countersigned copy of it) as the newest
   * link of the chain; returns its hash.
   * @throws CandorError `consent.chain-moved` when another receipt was kept since it was signed.
   */
  keep(signed: SignedReceipt, receipt: ConsentReceipt): string;
  /** The study's pseudonym on this device, or a fresh one not yet kept (pairing keeps it with `keepPseudonym`). */
  pseudonym(studyId: string): string;
  keepPseudonym(studyId: string, pseudonym: string): void;
  receipts(): ConsentReceipt[];
};

/**
 * Opens the receipts in `dir`; `deviceKey` supplies the study-scoped signing key.
 * @throws ValidationError when a file there is damaged.
 */
export function openConsentRecords(dir: string, deviceKey: DeviceKeySource): ConsentRecords {
  const statePath = join(dir, 'consent.json');
  const receiptsPath = join(dir, 'receipts.jsonl');
  const state = {
    pseudonyms: existsSync(statePath) ? parseUnknown(ConsentFile, JSON.parse(readFileSync(statePath, 'utf8')), 'consent file').pseudonyms : {},
  };

  const persist = (): void => {
    writeFileSync(statePath, JSON.stringify(state), { mode: 0o600 });
  };

  const readReceipts = (): ConsentReceipt[] => {
    if (!existsSync(receiptsPath)) return [];
    return readFileSync(receiptsPath, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => parseUnknown(ConsentReceipt, JSON.parse(line), 'stored receipt'));
  };

  // One chain per device key, the scope the server checks (a device key is one study on one
  // device): each receipt names the hash of the last one that key signed, null for its first.
  const heads = new Map<string, string>();
  for (const receipt of readReceipts()) heads.set(receipt.integrity.participant.keyId, receiptHash(receipt));

  const sign: ConsentRecords['sign'] = (study, notice, eventState, now, aggregatorKeyId) => {
    const pseudonym = state.pseudonyms[study.studyId] ?? `p_${randomId()}`;
    const validUntil = Math.min(now + study.consentValidityDays * DAY_MS, Date.parse(study.endsAt));
    const device = deviceKey(study.studyId);
    let signed;
    try {
      const unsigned = unsignedReceipt(study, notice, { principalId: pseudonym, aggregatorKeyId }, eventState, now, validUntil, heads.get(device.keyId) ?? null);
      signed = signReceiptAsParticipant(unsigned, device);
    } finally {
      wipe(device.secretKey);
    }
    return { receipt: parseUnknown(ConsentReceipt, signed, 'consent receipt'), validUntil, pseudonym, studyId: study.studyId };
  };

  const keep: ConsentRecords['keep'] = (signed, receipt) => {
    const keyId = receipt.integrity.participant.keyId;
    if (receipt.integrity.previousReceiptHash !== (heads.get(keyId) ?? null)) {
      throw new CandorError('consent.chain-moved', 'another consent was recorded meanwhile; nothing was recorded, try again');
    }
    const kept = parseUnknown(ConsentReceipt, receipt, 'consent receipt');
    const hash = receiptHash(kept);
    appendFileSync(receiptsPath, `${JSON.stringify(kept)}\n`, { mode: 0o600 });
    heads.set(keyId, hash);
    state.pseudonyms[signed.studyId] = signed.pseudonym;
    persist();
    return hash;
  };

  return {
    sign,
    keep,
    record(study, notice, eventState, now, aggregatorKeyId) {
      const signed = sign(study, notice, eventState, now, aggregatorKeyId);
      const hash = keep(signed, signed.receipt);
      return { receipt: signed.receipt, hash, validUntil: signed.validUntil };
    },
    pseudonym(studyId) {
      return state.pseudonyms[studyId] ?? `p_${randomId()}`;
    },
    keepPseudonym(studyId, pseudonym) {
      if (state.pseudonyms[studyId] === pseudonym) return;
      state.pseudonyms[studyId] = parseUnknown(Pseudonym, pseudonym, 'pseudonym');
      persist();
    },
    receipts: readReceipts,
  };
}

/** The receipt for consenting to (or withdrawing from) `study` after reading `notice`, before the device signs it. */
export function unsignedReceipt(
  study: StudyVersion,
  notice: ConsentNotice,
  { principalId, aggregatorKeyId }: { principalId: string; aggregatorKeyId: string },
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
    parties: { controllers: [study.controller], recipients: study.recipients, aggregatorKeyId },
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
