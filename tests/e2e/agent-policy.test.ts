/**
 * The daemon captures only under the redaction policy its study names, byte for byte: a
 * policy file whose hash differs, or none at all, stops the session with a reason a person
 * can read, before the hook is installed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestAgent, type TestAgent } from '../support/agent.ts';

const CODING = new URL('../../seeds/recordings/coding.jsonl', import.meta.url).pathname;
const POLICY = JSON.parse(readFileSync(new URL('../../seeds/policies/coding.v1.json', import.meta.url), 'utf8')) as { vocabulary: { minTokenLength: number } };

let agent: TestAgent | undefined;
let policiesDir: string | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
  if (policiesDir) rmSync(policiesDir, { recursive: true, force: true });
});

async function startWithPolicy(policy: unknown): Promise<TestAgent> {
  policiesDir = mkdtempSync(join(tmpdir(), 'candor-policies-'));
  if (policy !== undefined) writeFileSync(join(policiesDir, 'coding.v1.json'), JSON.stringify(policy));
  const started = await startTestAgent({ source: { kind: 'replay', file: CODING }, policiesDir });
  await started.enroll();
  return started;
}

describe('the redaction policy a study names', () => {
  it.each([
    ['edited after the study was approved', { ...POLICY, vocabulary: { ...POLICY.vocabulary, minTokenLength: 1 } }, /redaction policy coding v1/],
    ['missing from the device', undefined, /redaction policy coding v1 .* is not on this device/],
  ])('refuses to capture when the policy file is %s, and says why', async (_case, policy, reason) => {
    agent = await startWithPolicy(policy);
    const status = await agent.client.call('start', {});
    expect(status.capturing).toBe(false);
    expect(status.state).toBe('stopped');
    expect(status.reason).toMatch(reason);
  });

  it('captures when the policy file is the one the study names (the same check passes)', async () => {
    agent = await startWithPolicy(POLICY);
    const status = await agent.client.call('start', {});
    expect(status.capturing).toBe(true);
  });
});
