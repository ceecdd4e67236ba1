import { describe, expect, it } from 'vitest';
import { consentPeriods, windowInConsent, type ReceiptTimes } from './consent.ts';

const at = (hhmm: string) => `2026-11-23T${hhmm}:00.000Z`;
const ms = (hhmm: string) => Date.parse(at(hhmm));
const receipt = (consentAt: string, studyVersion: number, state = 'given', validUntil: string | null = at('23:00'), studyId = 'alpha'): ReceiptTimes => ({
  header: { consentTimestamp: at(consentAt) },
  processing: [{ captureScope: { studyId, studyVersion } }],
  event: { state: state as ReceiptTimes['event']['state'], validUntil: state === 'given' || state === 're-affirmed' ? validUntil : null },
});

describe('when consent to a study version was in force', () => {
  const cases: [string, ReceiptTimes[], number, [string, string][]][] = [
    ['one consent holds until it expires', [receipt('08:00', 1, 'given', at('10:00'))], 1, [['08:00', '10:00']]],
    ['consent to v1 ends when the participant consents to v2', [receipt('08:00', 1), receipt('11:00', 2)], 1, [['08:00', '11:00']]],
    ['consent to v2 begins when it is given', [receipt('08:00', 1), receipt('11:00', 2)], 2, [['11:00', '23:00']]],
    ['an expiry before the next receipt ends consent first', [receipt('08:00', 1, 'given', at('09:00')), receipt('11:00', 2)], 1, [['08:00', '09:00']]],
    ['a withdrawal ends consent', [receipt('08:00', 1), receipt('09:30', 1, 'withdrawn')], 1, [['08:00', '09:30']]],
    ['a re-affirmation continues it', [receipt('08:00', 1, 'given', at('09:00')), receipt('09:00', 1, 're-affirmed', at('12:00'))], 1, [['08:00', '09:00'], ['09:00', '12:00']]],
    ['a refusal is never consent', [receipt('08:00', 1, 'refused')], 1, []],
    ['a receipt shown as notice ends the consent before it', [receipt('08:00', 1), receipt('10:00', 1, 'notice-shown')], 1, [['08:00', '10:00']]],
    ['consent to another version is not consent to this one', [receipt('08:00', 2)], 1, []],
    ['receipts of another study neither give nor end consent', [receipt('08:00', 1), receipt('09:00', 1, 'withdrawn', null, 'beta')], 1, [['08:00', '23:00']]],
    ['an expired receipt holds for no time', [receipt('08:00', 1, 'given', at('07:00'))], 1, []],
    ['consent given again after a withdrawal holds again', [receipt('08:00', 1), receipt('09:00', 1, 'withdrawn'), receipt('10:00', 1)], 1, [['08:00', '09:00'], ['10:00', '23:00']]],
  ];
  it.each(cases)('%s', (_, receipts, version, expected) => {
    expect(consentPeriods(receipts, 'alpha', version)).toEqual(expected.map(([from, until]) => ({ fromMs: ms(from), untilMs: ms(until) })));
  });
});

describe('whether a window falls in a period of consent', () => {
  const periods = [{ fromMs: ms('08:07'), untilMs: ms('11:00') }];
  it.each<[string, string, boolean]>([
    ['the window in which consent was given', '08:00', true],
    ['a window wholly inside', '09:00', true],
    ['the last window that began before consent ended', '10:45', true],
    ['a window that ended as consent was given', '07:52', false],
    ['a window that began as consent ended', '11:00', false],
    ['a window that began after consent ended', '11:15', false],
  ])('%s (from %s): %s', (_, start, inside) => {
    expect(windowInConsent(periods, { windowStart: at(start), windowMinutes: 15 })).toBe(inside);
  });
  it('no window falls in no period', () => {
    expect(windowInConsent([], { windowStart: at('09:00'), windowMinutes: 15 })).toBe(false);
  });
});
