import { describe, expect, it } from 'vitest';
import { RedactionPolicy, type DetectorId } from '@candor/shared/schemas/policy';
import { parseUnknown } from '@candor/shared/validation';
import codingPolicy from '../../../seeds/policies/coding.v1.json' with { type: 'json' };
import { detectorsFor } from './detect.ts';
import { countVocabulary, startsPrompt } from './vocabulary.ts';

const policy = parseUnknown(RedactionPolicy, codingPolicy);
const detectors = detectorsFor(policy.detectors);

function count(text: string, rules = policy.vocabulary) {
  const counts = new Map<string, number>();
  const redactions = new Map<DetectorId, number>();
  countVocabulary(text, rules, detectors, counts, redactions);
  return { counts: Object.fromEntries(counts), redactions: Object.fromEntries(redactions) };
}

describe('countVocabulary', () => {
  it.each([
    ['git commit --amend --no-edit', { git: 1, commit: 1, '--amend': 1, '--no-edit': 1 }],
    ['console.log(items.map((x) => x * 2));', { 'console.log': 1, 'items.map': 1, '=>': 1 }],
    ['if [ -z "$HOME" ]; then echo ok; fi', { if: 1, '-z': 1, $HOME: 1, then: 1, echo: 1, ok: 1, fi: 1 }],
    ['kill -9 12345', { kill: 1 }],
    ['__proto__ constructor', { constructor: 1 }],
  ])('splits %j into tokens and counts them, without numbers', (text, expected) => {
    expect(count(text).counts).toEqual(expected);
  });

  it('never counts a token longer than the policy allows', () => {
    expect(count(`ok ${'a'.repeat(33)}`).counts).toEqual({ ok: 1 });
  });

  it('drops a finding and its neighbourhood, and counts the finding for the manifest only', () => {
    const result = count('one two three four jane@example.com five six seven eight');
    expect(result.counts).toEqual({ one: 1, two: 1, seven: 1, eight: 1 });
    expect(result.redactions).toEqual({ email: 1 });
  });

  it('drops only the finding when the neighbourhood is zero', () => {
    const result = count('one two jane@example.com three four', { ...policy.vocabulary, neighbourhood: 0 });
    expect(result.counts).toEqual({ one: 1, two: 1, three: 1, four: 1 });
  });
});

describe('startsPrompt', () => {
  it.each([
    ['sudo apt update', true],
    ['/usr/bin/ssh build01', true],
    ['make && sudo make install', true],
    ['docker login registry.example.com', true],
    ['ssh-keygen -t ed25519', true],
    ['git log', false],
    ['echo pseudo', false],
    ['git push origin main', true],
    ['aws configure', true],
    ['git status', false],
    ['docker logs api', false],
  ])('%j may prompt for a password: %s', (line, expected) => {
    expect(startsPrompt(line, policy.sensitiveContext.promptCommands)).toBe(expected);
  });
});
