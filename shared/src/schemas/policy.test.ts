import { describe, expect, it } from 'vitest';
import { canonicalHash } from '../crypto.ts';
import { parseUnknown, ValidationError } from '../validation.ts';
import { RedactionPolicy, REQUIRED_DETECTORS } from './policy.ts';
import { StudyVersion } from './study.ts';
import coding from '../../../seeds/policies/coding.v1.json' with { type: 'json' };
import strict from '../../../seeds/policies/strict.v1.json' with { type: 'json' };
import study from '../../../seeds/studies/coding-practice.v1.json' with { type: 'json' };

function pathsOf(input: unknown): string[] {
  try {
    parseUnknown(RedactionPolicy, input, 'policy');
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).issues.map((issue) => issue.path);
  }
  return [];
}

describe('RedactionPolicy', () => {
  it.each([
    ['strict', strict],
    ['coding', coding],
  ])('accepts the %s preset', (_, preset) => {
    expect(parseUnknown(RedactionPolicy, preset)).toEqual(preset);
  });

  it('keeps typed vocabulary off in the strict default and on in the coding preset', () => {
    expect(parseUnknown(RedactionPolicy, strict).vocabulary.enabled).toBe(false);
    expect(parseUnknown(RedactionPolicy, coding).vocabulary.enabled).toBe(true);
  });

  it('is referenced by the coding study with its real id, version and hash', () => {
    const policy = parseUnknown(RedactionPolicy, coding);
    const reference = parseUnknown(StudyVersion, study).redactionPolicy;
    expect(reference).toEqual({ id: policy.id, version: policy.version, hash: canonicalHash(policy) });
  });

  it('changes hash when any rule changes, so a changed policy needs a new study version', () => {
    const looser = { ...coding, vocabulary: { ...coding.vocabulary, neighbourhood: 0 } };
    expect(canonicalHash(parseUnknown(RedactionPolicy, looser))).not.toBe(canonicalHash(coding));
  });

  it('hashes the file as written: parsing adds nothing', () => {
    expect(canonicalHash(parseUnknown(RedactionPolicy, coding))).toBe(canonicalHash(coding));
  });

  it.each(REQUIRED_DETECTORS.map((id) => [id]))('refuses a policy that switches off the %s detector', (id) => {
    expect(pathsOf({ ...strict, detectors: strict.detectors.filter((name) => name !== id) })).toEqual(['detectors']);
  });

  it.each([
    ['an unknown detector', { detectors: [...strict.detectors, 'horoscope'] }, 'detectors[9]'],
    ['a detector twice', { detectors: [...strict.detectors, 'email'] }, 'detectors'],
    ['tokens longer than 32 characters', { vocabulary: { ...strict.vocabulary, maxTokenLength: 33 } }, 'vocabulary.maxTokenLength'],
    ['a minimum above the maximum', { vocabulary: { ...strict.vocabulary, minTokenLength: 20, maxTokenLength: 10 } }, 'vocabulary.minTokenLength'],
    ['a missing rule (no defaults)', { vocabulary: { enabled: false } }, 'vocabulary.minTokenLength'],
    ['an uppercase title phrase', { sensitiveContext: { ...strict.sensitiveContext, titlePhrases: ['Password'] } }, 'sensitiveContext.titlePhrases[0]'],
    ['zero lines after a prompt', { sensitiveContext: { ...strict.sensitiveContext, linesAfterPrompt: 0 } }, 'sensitiveContext.linesAfterPrompt'],
    ['an unknown key', { trustMe: true }, ''],
  ])('refuses %s', (_, change, path) => {
    expect(pathsOf({ ...strict, ...change })).toContain(path);
  });
});
