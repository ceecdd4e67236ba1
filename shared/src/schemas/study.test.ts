import { describe, expect, it } from 'vitest';
import { canonicalHash } from '../crypto.ts';
import { parseUnknown, ValidationError } from '../validation.ts';
import { captureScopeOf, StudyVersion, type StudyVersionInput } from './study.ts';
import seed from '../../../seeds/studies/coding-practice.v1.json' with { type: 'json' };

const valid = seed as StudyVersionInput;

function issuesOf(input: unknown): string[] {
  try {
    parseUnknown(StudyVersion, input, 'study');
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).issues.map((issue) => issue.path);
  }
  return [];
}

describe('StudyVersion', () => {
  it('accepts the seed study', () => {
    expect(parseUnknown(StudyVersion, valid).studyId).toBe('coding-practice');
  });

  it('fills the CONSENT.md defaults when a study leaves them out', () => {
    const defaulted = ['k', 'dp', 'windowMinutes', 'retentionDays', 'maxSessionMinutes', 'holdBeforeUploadHours', 'consentValidityDays'];
    const study = parseUnknown(StudyVersion, Object.fromEntries(Object.entries(valid).filter(([key]) => !defaulted.includes(key))));
    expect(study).toMatchObject({
      k: 10,
      dp: { epsilonPerRelease: 1, lifetimeEpsilon: 4 },
      windowMinutes: 15,
      retentionDays: 90,
      maxSessionMinutes: 60,
      holdBeforeUploadHours: 24,
      consentValidityDays: 90,
    });
  });

  it.each([
    ['k below 5', { k: 4 }, 'k'],
    ['ε per release above 2', { dp: { epsilonPerRelease: 2.5, lifetimeEpsilon: 4 } }, 'dp.epsilonPerRelease'],
    ['lifetime ε above 8', { dp: { epsilonPerRelease: 1, lifetimeEpsilon: 9 } }, 'dp.lifetimeEpsilon'],
    ['ε per release above the lifetime budget', { dp: { epsilonPerRelease: 2, lifetimeEpsilon: 1 } }, 'dp.epsilonPerRelease'],
    ['windows shorter than 5 minutes', { windowMinutes: 1 }, 'windowMinutes'],
    ['sessions longer than 4 hours', { maxSessionMinutes: 241 }, 'maxSessionMinutes'],
    ['retention beyond 180 days', { retentionDays: 181 }, 'retentionDays'],
    ['consent valid beyond 180 days', { consentValidityDays: 181 }, 'consentValidityDays'],
    ['a negative hold', { holdBeforeUploadHours: -1 }, 'holdBeforeUploadHours'],
    ['a study longer than 6 months', { endsAt: '2027-06-01T00:00:00.000Z' }, 'endsAt'],
    ['an end before the start', { endsAt: '2026-10-01T00:00:00.000Z' }, 'endsAt'],
    ['a timestamp with an offset', { startsAt: '2026-11-01T00:00:00+01:00' }, 'startsAt'],
    ['an unknown signal', { signals: ['screenshots'] }, 'signals[0]'],
    ['a signal twice', { signals: ['app-usage', 'app-usage'] }, 'signals'],
    ['no signals', { signals: [] }, 'signals'],
    ['typed vocabulary without apps', { vocabularyApps: [] }, 'vocabularyApps'],
    ['a vocabulary app that is also denied', { vocabularyApps: [{ match: 'thunderbird', label: 'mail' }] }, 'vocabularyApps[0]'],
    ['a malformed shortcut', { shortcuts: ['Shift+Ctrl+P'] }, 'shortcuts[0]'],
    ['an unknown key', { screenshots: true }, ''],
    ['an unknown key in a nested object', { apps: { allow: [], deny: [], titles: true } }, 'apps'],
    ['a policy hash that is not a hash', { redactionPolicy: { id: 'coding', version: 1, hash: 'abc' } }, 'redactionPolicy.hash'],
  ])('rejects %s', (_, change, path) => {
    expect(issuesOf({ ...valid, ...change })).toContain(path);
  });

  it('rejects vocabulary apps when typed vocabulary is not asked for', () => {
    expect(issuesOf({ ...valid, signals: ['app-usage'], shortcuts: [] })).toContain('vocabularyApps');
  });
});

describe('captureScopeOf', () => {
  const base = parseUnknown(StudyVersion, valid);

  it('hashes the same for the same scope, in any list order', () => {
    const reordered = parseUnknown(StudyVersion, { ...valid, signals: [...valid.signals].reverse() });
    expect(canonicalHash(captureScopeOf(reordered))).toBe(canonicalHash(captureScopeOf(base)));
  });

  it.each([
    ['purpose', { purpose: 'Something else' }],
    ['signals', { signals: ['app-usage'], vocabularyApps: [], shortcuts: [] }],
    ['apps', { apps: { allow: [], deny: [] } }],
    ['retention', { retentionDays: 30 }],
    ['recipients', { recipients: ['researcher'] }],
    ['redaction policy', { redactionPolicy: { id: 'coding', version: 2, hash: 'f'.repeat(64) } }],
  ])('changes when the %s changes, so consent must be given again', (_, change) => {
    const changed = parseUnknown(StudyVersion, { ...valid, ...change });
    expect(canonicalHash(captureScopeOf(changed))).not.toBe(canonicalHash(captureScopeOf(base)));
  });
});
