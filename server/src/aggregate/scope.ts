/**
 * The per-study schema an opened batch must pass: the shared UploadBatch shape (strict at
 * every level, so an extra field fails) narrowed to exactly what the participant consented to,
 * and to windows that started while that consent was in force.
 */
import { z } from 'zod';
import { UploadBatch, type EnvelopeHeader } from '@candor/shared/schemas/envelope';
import type { StudyVersion } from '@candor/shared/schemas/study';
import { windowInConsent, type ConsentPeriod } from './consent.ts';

/** `periods`: when the sender's consent to the header's version was in force (./consent.ts). */
export function consentedBatchSchema(study: StudyVersion, header: EnvelopeHeader, periods: readonly ConsentPeriod[]) {
  const signals = new Set<string>(study.signals);
  const shortcuts = new Set<string>(study.shortcuts);
  const appLabels = new Set(study.apps.allow.map((app) => app.label));
  return UploadBatch.superRefine((batch, ctx) => {
    if (batch.batchId !== header.batchId) ctx.addIssue({ code: 'custom', path: ['batchId'], message: 'differs from the envelope header' });
    batch.windows.forEach((window, index) => {
      const at = (...path: (string | number)[]) => ['windows', index, ...path];
      if (window.studyId !== header.studyId || window.studyVersion !== header.studyVersion) {
        ctx.addIssue({ code: 'custom', path: at('studyId'), message: 'names another study or version than the envelope' });
      }
      if (window.windowMinutes !== study.windowMinutes) ctx.addIssue({ code: 'custom', path: at('windowMinutes'), message: 'is not the study window' });
      if (!windowInConsent(periods, window)) {
        ctx.addIssue({ code: 'custom', path: at('windowStart'), message: 'is outside every period in which the participant consented to this study version' });
      }
      if (window.manifest.policyHash !== study.redactionPolicy.hash) {
        ctx.addIssue({ code: 'custom', path: at('manifest', 'policyHash'), message: "is not the study's redaction policy" });
      }
      const aggregate = window.aggregate;
      if (!signals.has(aggregate.signal)) {
        ctx.addIssue({ code: 'custom', path: at('aggregate', 'signal'), message: 'is a signal outside the consented scope' });
        return;
      }
      if (aggregate.signal === 'shortcuts' && Object.keys(aggregate.counts).some((name) => !shortcuts.has(name))) {
        ctx.addIssue({ code: 'custom', path: at('aggregate', 'counts'), message: 'holds a shortcut outside the allowlist' });
      }
      if (aggregate.signal === 'app-usage' && appLabels.size > 0 && Object.keys(aggregate.seconds).some((label) => !appLabels.has(label))) {
        ctx.addIssue({ code: 'custom', path: at('aggregate', 'seconds'), message: 'holds an app label outside the allowlist' });
      }
    });
  });
}

export type ConsentedBatch = z.output<ReturnType<typeof consentedBatchSchema>>;
