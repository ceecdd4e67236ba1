import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import strictPolicy from '../../../seeds/policies/strict.v1.json' with { type: 'json' };
import { explainPolicyCommand, redact } from './commands.ts';
import { DETECTORS } from './detect.ts';

const CODING = fileURLToPath(new URL('../../../seeds/policies/coding.v1.json', import.meta.url));
const STRICT = fileURLToPath(new URL('../../../seeds/policies/strict.v1.json', import.meta.url));

async function run(command: typeof redact, values: Record<string, string | boolean>, positionals: string[], input = '') {
  let stdout = '';
  let stderr = '';
  const code = await command(
    { values, positionals },
    Readable.from([input]),
    { write: (text: string) => (stdout += text) },
    { write: (text: string) => (stderr += text) },
  );
  return { code, stdout, stderr };
}

describe('candor redact', () => {
  it('writes each stdin line redacted, in order, and leaves clean lines untouched', async () => {
    const input = 'mail jane@example.com\ngit push origin main\ncard 4111 1111 1111 1111\n';
    const result = await run(redact, {}, [], input);
    expect(result).toEqual({ code: 0, stdout: 'mail [email]\ngit push origin main\ncard [payment-card]\n', stderr: '' });
  });

  it('prints per-detector counts with --report, on stderr and without the matches', async () => {
    const result = await run(redact, { report: true, policy: CODING }, [], 'a@example.com b@example.org\nSSN 123-45-6789\n');
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/2 lines, policy coding v1/);
    expect(result.stderr).toMatch(/email\s+v2\s+2\n/);
    expect(result.stderr).toMatch(/us-ssn\s+v1\s+1\n/);
    expect(result.stderr).not.toContain('example');
  });

  it('refuses an invalid policy with one line naming the problem, not the file content', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'candor-redact-'));
    try {
      const bad = join(dir, 'bad.json');
      writeFileSync(bad, JSON.stringify({ ...strictPolicy, description: 'zqxcanary', detectors: ['email'] }));
      const result = await run(redact, { policy: bad }, [], 'x\n');
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^candor redact: invalid redaction policy .*detectors: must include secret/);
      expect(result.stderr).not.toContain('zqxcanary');
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      const missing = await run(redact, { policy: join(dir, 'missing.json') }, [], 'x\n');
      expect(missing).toMatchObject({ code: 1, stdout: '' });
      expect(missing.stderr).toMatch(/cannot read a JSON policy/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses positional arguments with usage', async () => {
    expect(await run(redact, {}, ['file.txt'])).toMatchObject({ code: 2, stdout: '' });
  });
});

describe('candor explain-policy', () => {
  it('says the strict policy never rebuilds typed text and lists every detector with its version', async () => {
    const result = await run(explainPolicyCommand, {}, [STRICT]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('no words: this policy never rebuilds what you type');
    for (const { id, version } of Object.values(DETECTORS)) {
      expect(result.stdout).toContain(`  - ${id} (version ${String(version)}): `);
    }
  });

  it('says what the coding policy counts, what it drops around findings, and when it stops', async () => {
    const result = await run(explainPolicyCommand, {}, [CODING]);
    expect(result.stdout).toContain('counts of the words you type, only in the applications the study lists');
    expect(result.stdout).toContain('with the 2 words on either side of it');
    expect(result.stdout).toContain('for the 3 lines typed after a command that may ask for a password: sudo');
    expect(result.stdout).toContain('Hash (what studies reference): 781980601f2d');
  });

  it('needs exactly one file', async () => {
    expect(await run(explainPolicyCommand, {}, [])).toMatchObject({ code: 2, stdout: '' });
  });
});
