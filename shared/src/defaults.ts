/**
 * Privacy defaults and limits from ../shared/CONSENT.md. A study may be stricter than a
 * default; no study may cross a limit. The schemas enforce the limits at every boundary.
 */
export const PRIVACY_DEFAULTS = {
  consentValidityDays: 90,
  studyDurationDays: 91,
  maxSessionMinutes: 60,
  k: 10,
  epsilonPerRelease: 1,
  lifetimeEpsilon: 4,
  windowMinutes: 15,
  holdBeforeUploadHours: 24,
  retentionDays: 90,
} as const;

export const PRIVACY_LIMITS = {
  maxConsentValidityDays: 180,
  maxStudyDurationDays: 184,
  maxSessionMinutes: 240,
  minK: 5,
  maxEpsilonPerRelease: 2,
  maxLifetimeEpsilon: 8,
  minWindowMinutes: 5,
  minHoldBeforeUploadHours: 0,
  maxRetentionDays: 180,
  maxUploadBodyBytes: 256 * 1024,
  maxQueueBytes: 10 * 1024 * 1024,
  maxQueueDays: 7,
  maxTokenLength: 32,
} as const;

export const UPLOAD_RETRY = {
  initialDelayMs: 60_000,
  maxDelayMs: 2 * 60 * 60_000,
} as const;
