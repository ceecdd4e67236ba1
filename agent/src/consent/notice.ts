/**
 * The consent notice: the exact text a participant reads before saying yes, generated from
 * the study version so that it cannot drift from what is captured. Its hash goes into the
 * receipt, and `enroll` refuses a hash that is not the current notice's.
 */
import { contentHash } from '@candor/shared/crypto';
import type { ConsentNotice } from '@candor/shared/schemas/control';
import type { SignalName, StudyVersion } from '@candor/shared/schemas/study';
import { BUILT_IN_SENSITIVE_DESCRIPTION } from '../context/sensitive.ts';

/** What each signal sends, and what it never sends (../shared/DESIGN.md, "Signals"). */
export const SIGNAL_SCOPE: Record<SignalName, { leaves: string; never: string; sensitivity: 'interaction' | 'highly-sensitive' }> = {
  'keyboard-activity': { leaves: 'key counts, typing-speed and pause histograms, correction ratio', never: 'which key was pressed', sensitivity: 'interaction' },
  'key-classes': { leaves: 'counts per key class (letter, digit, punctuation, whitespace, enter, backspace, navigation, modifier, function)', never: 'the characters', sensitivity: 'interaction' },
  shortcuts: { leaves: 'counts of the named shortcuts the study lists', never: 'any other key combination', sensitivity: 'interaction' },
  'mouse-activity': { leaves: 'clicks per button, scroll ticks, distance and speed buckets', never: 'pointer coordinates and click targets', sensitivity: 'interaction' },
  'app-usage': { leaves: 'seconds per allowed application label', never: 'window titles, document names and URLs', sensitivity: 'interaction' },
  'typed-vocabulary': {
    leaves: 'counts of tokens typed in the listed apps, after on-device PII and secret redaction, released only when at least k people typed them',
    never: 'the text itself, its order, and anything a detector flags',
    sensitivity: 'highly-sensitive',
  },
};

export function consentNoticeOf(study: StudyVersion): ConsentNotice {
  const apps = (list: readonly { label: string; match: string }[]) => (list.length === 0 ? 'none' : list.map((app) => `${app.label} (${app.match})`).join(', '));
  const lines = [
    `${study.title} — version ${study.version}`,
    '',
    `Purpose (${study.purposeCategory}): ${study.purpose}`,
    `Run by: ${study.controller.name}, ${study.controller.address} (${study.controller.contact})`,
    `Who sees results: ${study.recipients.join(', ')}, only as cohort results over at least ${study.k} people, with differential-privacy noise (ε ${study.dp.epsilonPerRelease} per release, ${study.dp.lifetimeEpsilon} in total).`,
    '',
    'What is captured, and what never leaves this device:',
    ...study.signals.map((signal) => `  - ${signal}: ${SIGNAL_SCOPE[signal].leaves}. Never: ${SIGNAL_SCOPE[signal].never}.`),
    '',
    `Applications: ${study.apps.allow.length === 0 ? 'every application not excluded' : `only ${apps(study.apps.allow)}`}.`,
    `Never captured: ${apps(study.apps.deny)}, and always ${BUILT_IN_SENSITIVE_DESCRIPTION}.`,
    ...(study.vocabularyApps.length > 0 ? [`Typed vocabulary only in: ${apps(study.vocabularyApps)}.`] : []),
    '',
    `Capture runs only in a session you start; a session lasts at most ${study.maxSessionMinutes} minutes; you can pause for as long as you like, stop, or withdraw at any time.`,
    `Aggregates wait ${study.holdBeforeUploadHours} hours on this device, where you can inspect and delete them, before upload. The server keeps your rows ${study.retentionDays} days.`,
    `Your consent lasts ${study.consentValidityDays} days (and ends with the study on ${study.endsAt.slice(0, 10)}).`,
    `Withdraw with: candor withdraw ${study.studyId}`,
  ];
  const text = lines.join('\n');
  return { studyId: study.studyId, version: study.version, title: study.title, text, noticeHash: contentHash(text) };
}
