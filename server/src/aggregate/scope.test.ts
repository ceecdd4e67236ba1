import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { StudyVersion } from '@candor/shared/schemas/study';
import type { EnvelopeHeader } from '@candor/shared/schemas/envelope';
import { consentedBatchSchema } from './scope.ts';

const seed = StudyVersion.parse(JSON.parse(readFileSync(new URL('../../../seeds/studies/coding-practice.v1.json', import.meta.url), 'utf8')));
const narrow = StudyVersion.parse({ ...seed, signals: ['keyboard-activity', 'shortcuts', 'app-usage'], vocabularyApps: [], shortcuts: ['Ctrl+C'] });
const header: EnvelopeHeader = {
  v: 1,
  studyId: narrow.studyId,
  studyVersion: 1,
  batchId: 'a'.repeat(64),
  senderKeyId: 'AAAAAAAAAAAAAAAAAAAAAA',
  recipientKeyId: 'BBBBBBBBBBBBBBBBBBBBBB',
  createdAt: '2026-11-23T10:00:00.000Z',
  ephemeralPublicKey: 'C'.repeat(43),
  nonce: 'D'.repeat(32),
};
// Consent to the header's version held from 08:07 to 11:53; windows are aligned to 15 minutes.
const periods = [{ fromMs: Date.parse('2026-11-23T08:07:00.000Z'), untilMs: Date.parse('2026-11-23T11:53:00.000Z') }];
const manifest = { policyHash: narrow.redactionPolicy.hash, detectors: [], redactions: {} };
const window = (aggregate: unknown, overrides: Record<string, unknown> = {}) => ({
  studyId: narrow.studyId,
  studyVersion: 1,
  windowStart: '2026-11-23T09:00:00.000Z',
  windowMinutes: 15,
  aggregate,
  manifest,
  ...overrides,
});
const keyboard = { signal: 'keyboard-activity', keyCount: 3, correctionCount: 0, typingSpeed: [0, 0, 0, 0, 0, 0, 0, 0], pauses: [0, 0, 0, 0, 0, 0, 0, 0] };
const batch = (...windows: unknown[]) => ({ batchId: header.batchId, windows });

describe('the consented batch schema', () => {
  const accepted: [string, unknown][] = [
    ['keyboard activity in scope', batch(window(keyboard))],
    ['an allowlisted shortcut', batch(window({ signal: 'shortcuts', counts: { 'Ctrl+C': 2 } }))],
    ['an allowlisted app label', batch(window({ signal: 'app-usage', seconds: { terminal: 60, editor: 30 } }))],
    ['a window that began before consent and ended after it was given', batch(window(keyboard, { windowStart: '2026-11-23T08:00:00.000Z' }))],
    ['a window that began before consent ended', batch(window(keyboard, { windowStart: '2026-11-23T11:45:00.000Z' }))],
  ];
  const refused: [string, unknown, RegExp][] = [
    ['a signal the study does not ask for', batch(window({ signal: 'key-classes', counts: { letter: 1, digit: 0, punctuation: 0, whitespace: 0, enter: 0, backspace: 0, navigation: 0, modifier: 0, function: 0 } })), /outside the consented scope/],
    ['typed vocabulary when not consented', batch(window({ signal: 'typed-vocabulary', counts: { git: 1 } })), /outside the consented scope/],
    ['a valid shortcut outside the allowlist', batch(window({ signal: 'shortcuts', counts: { 'Ctrl+V': 1 } })), /shortcut outside the allowlist/],
    ['a shortcut spelled in another case', batch(window({ signal: 'shortcuts', counts: { 'ctrl+c': 1 } })), /invalid key/i],
    ['an app label outside the allowlist', batch(window({ signal: 'app-usage', seconds: { mail: 5 } })), /app label outside the allowlist/],
    ['an extra field in a window', batch({ ...window(keyboard), title: 'x' }), /unrecognized key/i],
    ['an extra field in an aggregate', batch(window({ ...keyboard, keys: 'abc' })), /unrecognized key/i],
    ['another window length', batch(window(keyboard, { windowMinutes: 5, windowStart: '2026-11-23T09:05:00.000Z' })), /not the study window/],
    ['another redaction policy', batch(window(keyboard, { manifest: { ...manifest, policyHash: 'f'.repeat(64) } })), /redaction policy/],
    ['another study version than the header', batch(window(keyboard, { studyVersion: 2 })), /another study or version/],
    ['a window that ended before consent was given', batch(window(keyboard, { windowStart: '2026-11-23T07:45:00.000Z' })), /outside every period/],
    ['a window that began after consent ended', batch(window(keyboard, { windowStart: '2026-11-23T12:00:00.000Z' })), /outside every period/],
    ['one window in consent beside one after it', batch(window(keyboard), window(keyboard, { windowStart: '2026-11-23T12:15:00.000Z' })), /outside every period/],
    ['any window when the participant never consented to the version', { ...batch(window(keyboard)), noPeriods: true }, /outside every period/],
    ['another batch id than the header', { ...batch(window(keyboard)), batchId: 'b'.repeat(64) }, /differs from the envelope header/],
  ];

  for (const [what, value] of accepted) {
    it(`accepts ${what}`, () => {
      expect(consentedBatchSchema(narrow, header, periods).safeParse(value).success).toBe(true);
    });
  }
  for (const [what, value, reason] of refused) {
    it(`refuses ${what}`, () => {
      const { noPeriods, ...body } = value as { noPeriods?: boolean };
      const result = consentedBatchSchema(narrow, header, noPeriods === true ? [] : periods).safeParse(body);
      expect(result.success).toBe(false);
      expect(result.error?.issues.map((issue) => issue.message).join(' ')).toMatch(reason);
    });
  }
});
