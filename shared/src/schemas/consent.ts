import { z } from 'zod';
import { PRIVACY_LIMITS } from '../defaults.ts';
import { Base64Url, KeyId, Role, HashHex, Slug, UtcTimestamp } from './primitives.ts';
import { AppRef, Controller, SignalName } from './study.ts';

/**
 * The consent receipt of ../shared/CONSENT.md: a superset of the Kantara Consent Receipt v1.1
 * required fields and the mandatory fields of ISO/IEC TS 27560:2023. Signed by the
 * participant's device key over its RFC 8785 form, countersigned by the server, and chained
 * per participant through `previousReceiptHash`.
 */
export const ConsentState = z.enum(['notice-shown', 'given', 'refused', 're-affirmed', 'withdrawn', 'expired', 'invalidated']);
export type ConsentState = z.infer<typeof ConsentState>;

/** A study-scoped pseudonym; never an email or a name. */
export const Pseudonym = z.string().regex(/^p_[A-Za-z0-9_-]{22}$/, 'expected a study-scoped pseudonym (p_ + 128-bit id)');

/** BCP 47, the common shapes: `en`, `en-GB`, `de-CH`, `zh-Hant-TW`. */
const LanguageTag = z.string().regex(/^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$/, 'expected a BCP 47 language tag');

export const DataSensitivity = z.enum(['technical', 'interaction', 'stored-content', 'highly-sensitive']);

export const ProcessingPurpose = z.strictObject({
  purpose: z.string().min(1).max(4000),
  purposeCategory: z.enum(['ai-training', 'research', 'product-improvement']),
  consentType: z.literal('explicit'),
  dataCategories: z
    .array(z.strictObject({ category: z.string().min(1).max(100), sensitivity: DataSensitivity }))
    .min(1),
  captureScope: z.strictObject({
    studyId: Slug,
    studyVersion: z.int().min(1),
    scopeHash: HashHex,
    signals: z.array(SignalName).min(1),
    apps: z.strictObject({ allow: z.array(AppRef), deny: z.array(AppRef) }),
    maxSessionMinutes: z.int().min(1).max(PRIVACY_LIMITS.maxSessionMinutes),
    neverLeavesDevice: z.array(z.string().min(1).max(200)).min(1),
  }),
  storageLocations: z.array(z.string().min(1).max(200)).min(1),
  retentionDays: z.int().min(1).max(PRIVACY_LIMITS.maxRetentionDays),
  recipients: z.array(Role).min(1),
  privacyMechanisms: z.strictObject({
    redactionPolicyHash: HashHex,
    k: z.int().min(PRIVACY_LIMITS.minK),
    epsilonPerRelease: z.number().positive().max(PRIVACY_LIMITS.maxEpsilonPerRelease),
    lifetimeEpsilon: z.number().positive().max(PRIVACY_LIMITS.maxLifetimeEpsilon),
  }),
  withdrawalMethod: z.string().min(1).max(500),
});

const ReceiptBody = z.strictObject({
  header: z.strictObject({
    schemaVersion: z.literal('candor.consent-receipt/1'),
    receiptId: z.uuid(),
    jurisdiction: z.string().min(2).max(64),
    language: LanguageTag,
    consentTimestamp: UtcTimestamp,
    collectionMethod: z.string().min(1).max(200),
    principalId: Pseudonym,
  }),
  parties: z.strictObject({
    controllers: z.array(Controller).min(1),
    recipients: z.array(Role).min(1),
    aggregatorKeyId: KeyId,
  }),
  notice: z.strictObject({ version: z.string().min(1).max(64), contentHash: HashHex }),
  processing: z.array(ProcessingPurpose).min(1),
  event: z.strictObject({
    state: ConsentState,
    validUntil: UtcTimestamp.nullable(),
    performedBy: z.enum(['participant', 'system']),
  }),
});

export const Signature = z.strictObject({ keyId: KeyId, signature: Base64Url.length(86) });

export const ConsentReceipt = ReceiptBody.extend({
  integrity: z.strictObject({
    previousReceiptHash: HashHex.nullable(),
    participant: Signature,
    server: Signature.nullable(),
  }),
}).superRefine((receipt, ctx) => {
  // "ai-training" is always its own purpose and its own consent.
  const training = receipt.processing.some((purpose) => purpose.purposeCategory === 'ai-training');
  if (training && receipt.processing.length > 1) {
    ctx.addIssue({ code: 'custom', path: ['processing'], message: 'ai-training must be consented to on its own receipt' });
  }
  const { state, validUntil } = receipt.event;
  if ((state === 'given' || state === 're-affirmed') && validUntil === null) {
    ctx.addIssue({ code: 'custom', path: ['event', 'validUntil'], message: 'a given consent must expire' });
  }
});
export type ConsentReceipt = z.infer<typeof ConsentReceipt>;
