import { z } from 'zod';
import { PRIVACY_DEFAULTS, PRIVACY_LIMITS } from '../defaults.ts';
import { Role, HashHex, Slug, UtcTimestamp } from './primitives.ts';

/** The signals a study may ask for (the table in ../shared/DESIGN.md). */
export const SignalName = z.enum([
  'keyboard-activity',
  'key-classes',
  'shortcuts',
  'mouse-activity',
  'app-usage',
  'typed-vocabulary',
]);
export type SignalName = z.infer<typeof SignalName>;

/**
 * An application as the agent sees it: `match` is compared, case-insensitively, with the
 * foreground window's class (WM_CLASS on X11); `label` is what may leave the device.
 */
export const AppRef = z.strictObject({
  match: z.string().regex(/^[A-Za-z0-9._ -]{1,64}$/, 'expected a window class (letters, digits, . _ - space)'),
  label: Slug,
});
export type AppRef = z.infer<typeof AppRef>;

/** A named shortcut, modifiers in canonical order: `Ctrl+Shift+P`, `Alt+Tab`, `F5`. */
export const ShortcutName = z
  .string()
  .regex(/^(Ctrl\+)?(Alt\+)?(Shift\+)?(Meta\+)?([A-Z0-9]|F([1-9]|1[0-9]|2[0-4])|Tab|Enter|Escape|Space|Backspace|Delete|Home|End|PageUp|PageDown|Up|Down|Left|Right|Insert|[-=[\]\\;',./`])$/, 'expected a shortcut like Ctrl+Shift+P');

export const RedactionPolicyRef = z.strictObject({
  id: Slug,
  version: z.int().min(1),
  hash: HashHex,
});
export type RedactionPolicyRef = z.infer<typeof RedactionPolicyRef>;

export const Controller = z.strictObject({
  name: z.string().min(1).max(200),
  address: z.string().min(1).max(500),
  contact: z.string().min(1).max(200),
});

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * One immutable version of a study. Any change to its scope or its redaction policy makes a
 * new version that needs approval, and consent given to an older version stops capture.
 * Defaults come from CONSENT.md; limits cannot be crossed.
 */
export const StudyVersion = z
  .strictObject({
    studyId: Slug,
    version: z.int().min(1),
    title: z.string().min(1).max(200),
    purpose: z.string().min(1).max(4000),
    purposeCategory: z.enum(['ai-training', 'research', 'product-improvement']),
    controller: Controller,
    recipients: z.array(Role).min(1),
    signals: z.array(SignalName).min(1),
    apps: z.strictObject({
      /** Capture only in these apps; empty means every app that is not denied. */
      allow: z.array(AppRef).max(200).default([]),
      /** Never capture in these apps, in addition to Candor's built-in sensitive list. */
      deny: z.array(AppRef).max(200).default([]),
    }),
    /** Apps where typed vocabulary is rebuilt; required when that signal is asked for. */
    vocabularyApps: z.array(AppRef).max(50).default([]),
    shortcuts: z.array(ShortcutName).max(200).default([]),
    windowMinutes: z.int().min(PRIVACY_LIMITS.minWindowMinutes).max(24 * 60).default(PRIVACY_DEFAULTS.windowMinutes),
    k: z.int().min(PRIVACY_LIMITS.minK).max(10_000).default(PRIVACY_DEFAULTS.k),
    dp: z
      .strictObject({
        epsilonPerRelease: z.number().positive().max(PRIVACY_LIMITS.maxEpsilonPerRelease).default(PRIVACY_DEFAULTS.epsilonPerRelease),
        lifetimeEpsilon: z.number().positive().max(PRIVACY_LIMITS.maxLifetimeEpsilon).default(PRIVACY_DEFAULTS.lifetimeEpsilon),
      })
      .prefault({}),
    retentionDays: z.int().min(1).max(PRIVACY_LIMITS.maxRetentionDays).default(PRIVACY_DEFAULTS.retentionDays),
    maxSessionMinutes: z.int().min(1).max(PRIVACY_LIMITS.maxSessionMinutes).default(PRIVACY_DEFAULTS.maxSessionMinutes),
    holdBeforeUploadHours: z.number().min(PRIVACY_LIMITS.minHoldBeforeUploadHours).max(24 * 30).default(PRIVACY_DEFAULTS.holdBeforeUploadHours),
    consentValidityDays: z.int().min(1).max(PRIVACY_LIMITS.maxConsentValidityDays).default(PRIVACY_DEFAULTS.consentValidityDays),
    startsAt: UtcTimestamp,
    endsAt: UtcTimestamp,
    redactionPolicy: RedactionPolicyRef,
  })
  .superRefine((study, ctx) => {
    const days = (Date.parse(study.endsAt) - Date.parse(study.startsAt)) / DAY_MS;
    if (!(days > 0)) ctx.addIssue({ code: 'custom', path: ['endsAt'], message: 'must be after startsAt' });
    if (days > PRIVACY_LIMITS.maxStudyDurationDays) {
      ctx.addIssue({ code: 'custom', path: ['endsAt'], message: 'a study lasts at most 6 months' });
    }
    if (study.dp.epsilonPerRelease > study.dp.lifetimeEpsilon) {
      ctx.addIssue({ code: 'custom', path: ['dp', 'epsilonPerRelease'], message: 'cannot exceed lifetimeEpsilon' });
    }
    if (new Set(study.signals).size !== study.signals.length) {
      ctx.addIssue({ code: 'custom', path: ['signals'], message: 'lists a signal twice' });
    }
    const wantsVocabulary = study.signals.includes('typed-vocabulary');
    if (wantsVocabulary && study.vocabularyApps.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['vocabularyApps'], message: 'typed-vocabulary needs at least one allowlisted app' });
    }
    if (!wantsVocabulary && study.vocabularyApps.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['vocabularyApps'], message: 'only allowed when typed-vocabulary is asked for' });
    }
    if (study.shortcuts.length > 0 && !study.signals.includes('shortcuts')) {
      ctx.addIssue({ code: 'custom', path: ['shortcuts'], message: 'only allowed when shortcuts is asked for' });
    }
    const denied = new Set(study.apps.deny.map((app) => app.match.toLowerCase()));
    study.vocabularyApps.forEach((app, index) => {
      if (denied.has(app.match.toLowerCase())) {
        ctx.addIssue({ code: 'custom', path: ['vocabularyApps', index], message: 'is also denied' });
      }
    });
  });

/** A study version as written (defaults not yet applied). */
export type StudyVersionInput = z.input<typeof StudyVersion>;
export type StudyVersion = z.output<typeof StudyVersion>;

/**
 * The part of a study that consent covers: any change to it needs consent again.
 * Its canonical hash is the receipt's scope hash.
 */
export function captureScopeOf(study: StudyVersion) {
  return {
    studyId: study.studyId,
    studyVersion: study.version,
    purpose: study.purpose,
    purposeCategory: study.purposeCategory,
    recipients: [...study.recipients].sort(),
    signals: [...study.signals].sort(),
    apps: study.apps,
    vocabularyApps: study.vocabularyApps,
    shortcuts: [...study.shortcuts].sort(),
    windowMinutes: study.windowMinutes,
    maxSessionMinutes: study.maxSessionMinutes,
    retentionDays: study.retentionDays,
    k: study.k,
    dp: study.dp,
    redactionPolicyHash: study.redactionPolicy.hash,
  };
}
