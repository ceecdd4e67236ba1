import { describe, expect, it } from 'vitest';
import type { DetectorId } from '@candor/shared/schemas/policy';
import { DETECTORS, findSpans, replaceSpans, type Detector } from './detect.ts';
import { ibanValid, luhnValid } from './detectors/financial.ts';

/** What one detector alone finds in `text`, as the matched substrings. */
function matchesOf(id: DetectorId, text: string): string[] {
  return findSpans(text, [DETECTORS[id]]).map((span) => text.slice(span.start, span.end));
}

/** What every detector together finds: a hard negative must survive all of them. */
function anyMatch(text: string): string[] {
  return findSpans(text, Object.values(DETECTORS)).map((span) => `${span.detector}:${text.slice(span.start, span.end)}`);
}

type Positive = [text: string, expected: string];
const POSITIVES: Record<DetectorId, Positive[]> = {
  email: [
    ['write to jane.doe@example.com today', 'jane.doe@example.com'],
    ['cc: j_smith+lists@mail.example.co.uk', 'j_smith+lists@mail.example.co.uk'],
    ['<Anna.Berg@firma-intern.de>', 'Anna.Berg@firma-intern.de'],
    ['git config user.email "dev42@corp.io"', 'dev42@corp.io'],
    ['write to jane.roe [at] example [dot] com', 'jane.roe [at] example [dot] com'],
    ['mail me: bob(at)example.org', 'bob(at)example.org'],
    ['write to jane at example\tdot com', 'jane at example\tdot com'],
  ],
  phone: [
    ['call +1 415 555 0132 after lunch', '+1 415 555 0132'],
    ['Tel: +44 (0)20 7946 0958', '+44 (0)20 7946 0958'],
    ['+49 30 12345678', '+49 30 12345678'],
    ['mobile 06 12 34 56 78', '06 12 34 56 78'],
    ['(415) 555-0132', '(415) 555-0132'],
    ['office 415-555-0132 ext 4', '415-555-0132'],
    ['call me at 4155550132', '4155550132'],
    ['+33612345678', '+33612345678'],
    ['my number is 0612345678', '0612345678'],
  ],
  'payment-card': [
    ['card 4111 1111 1111 1111 exp 12/28', '4111 1111 1111 1111'],
    ['5500-0000-0000-0004', '5500-0000-0000-0004'],
    ['amex 378282246310005', '378282246310005'],
    ['6011111111111117', '6011111111111117'],
  ],
  'us-ssn': [
    ['SSN 123-45-6789', '123-45-6789'],
    ['my ssn: 078051120', '078051120'],
    ['social security number 219 09 9999', '219 09 9999'],
  ],
  iban: [
    ['IBAN DE89 3704 0044 0532 0130 00 please', 'DE89 3704 0044 0532 0130 00'],
    ['GB82WEST12345698765432', 'GB82WEST12345698765432'],
    ['pay to FR14 2004 1010 0505 0001 3M02 606', 'FR14 2004 1010 0505 0001 3M02 606'],
  ],
  'ip-address': [
    ['ssh admin@10.20.30.40', '10.20.30.40'],
    ['curl http://192.168.1.17:8080/health', '192.168.1.17'],
    ['ping 2001:db8:85a3::8a2e:370:7334', '2001:db8:85a3::8a2e:370:7334'],
    ['route via fe80::1ff:fe23:4567:890a', 'fe80::1ff:fe23:4567:890a'],
    ['host 8.8.8.8.', '8.8.8.8'],
    ['addr 2001:0db8:85a3:0000:0000:8a2e:0370:7334 up', '2001:0db8:85a3:0000:0000:8a2e:0370:7334'],
  ],
  'credential-url': [
    ['git clone https://bob:s3cretPass@git.example.com/r.git', 'https://bob:s3cretPass@git.example.com/r.git'],
    ['https://api.example.com/v1?access_token=abcdef123456', 'https://api.example.com/v1?access_token=abcdef123456'],
    ['postgres://app:hunter22@db.internal:5432/app', 'postgres://app:hunter22@db.internal:5432/app'],
    ['https://x.s3.amazonaws.com/f?X-Amz-Signature=8f3a9c2b1d', 'https://x.s3.amazonaws.com/f?X-Amz-Signature=8f3a9c2b1d'],
  ],
  secret: [
    ['export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE', 'AKIAIOSFODNN7EXAMPLE'],
    ['key AIzaSyD4-k8sQw1XbR0Zx9uV2nP3mL5tE7yH6cJ', 'AIzaSyD4-k8sQw1XbR0Zx9uV2nP3mL5tE7yH6cJ'],
    ['token ghp_16C7e42F292c6912E7710c838347Ae178B4a', 'ghp_16C7e42F292c6912E7710c838347Ae178B4a'],
    ['glpat-xY7z9Qw2Er4Ty6Ui8Op0', 'glpat-xY7z9Qw2Er4Ty6Ui8Op0'],
    ['SLACK=xoxb-123456789012-123456789012-AbCdEfGhIjKlMnOpQrStUvWx', 'xoxb-123456789012-123456789012-AbCdEfGhIjKlMnOpQrStUvWx'],
    ['OPENAI_API_KEY=sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12', 'sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12'],
    ['sk-ant-api03-Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Jh0', 'sk-ant-api03-Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Jh0'],
    [
      'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
    ],
    ['-----BEGIN RSA PRIVATE KEY-----', '-----BEGIN RSA PRIVATE KEY-----'],
    ['password=hunter2', 'hunter2'],
    ['export DB_PASS=Sunny2024', 'Sunny2024'],
    ['DB_PASSWORD="correct horse"', 'correct horse'],
    ['"client_secret": "Zq8vN2xL"', 'Zq8vN2xL'],
    ['my password is Tr0ub4dor&3', 'Tr0ub4dor&3'],
    ['secret: kJ8#mQ2!pL', 'kJ8#mQ2!pL'],
    ['AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq==', 'AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq=='],
    ['wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'],
    ['curl -u admin:S3cr3tPass https://ci.example.com', 'S3cr3tPass'],
    ['docker login -u ci -p A4prjLO6PX9pZYPo registry.example.com', 'A4prjLO6PX9pZYPo'],
    ['mysqladmin --password=r00tPw!x status', 'r00tPw!x'],
  ],
  'person-name': [
    ['Hi, my name is Maria Lopez and I', 'Maria Lopez'],
    ['Dear Mr. Okafor,', 'Okafor'],
    ['Dear Ingrid,', 'Ingrid'],
    ['Thanks, Priya', 'Priya'],
    ['Kind regards, Jean-Luc Picard', 'Jean-Luc Picard'],
    ['Signed-off-by: Tom Weber <tom@example.org>', 'Tom Weber'],
    ['Mit freundlichen Grüßen, Jürgen Klein', 'Jürgen Klein'],
    ['Full name: Mei-Ling Chen', 'Mei-Ling Chen'],
    ['Meeting with Carlos Mendes - Zoom', 'Carlos Mendes'],
    ['Chère Marie, merci', 'Marie'],
    ['Hi Anna, the build is green', 'Anna'],
    ['Dr Ada Byron', 'Ada Byron'],
    ['Co-authored-by: Ana Silva <ana@example.org>', 'Ana Silva'],
    ['cc: Lena Vogel', 'Lena Vogel'],
    ['Hi Anna Team, welcome', 'Anna'],
    ['Thanks, Ola Customer Support', 'Ola'],
  ],
};

describe('each detector finds what it is for', () => {
  for (const [id, cases] of Object.entries(POSITIVES) as [DetectorId, Positive[]][]) {
    it.each(cases)(`${id} finds the match in %j`, (text, expected) => {
      expect(matchesOf(id, text)).toContain(expected);
    });
  }
});

// Text that looks like PII to a careless pattern and must pass every detector untouched.
const HARD_NEGATIVES: string[] = [
  'npm install lodash@4.17.21 @types/node@20.11.5',
  'git clone git@github.com:candor/agent.git',
  'const total = price * 1.19; // 19% VAT',
  'Total: $1,299.99 or €1.049,00',
  'released v1.2.3.4 and 10.0.19041.1',
  'build 2026.11.23.1',
  'date: 2026-11-23 12:30:45',
  'on 01-02-2024 at 14:30',
  'commit 9fceb02d0ae598e95dc970b74767f19372d61af8',
  'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  'integrity sha512-9u/8Y7Q4m3kD6pZ2nL1xV0wS5tR8oN7jH4gF3eD2cB1aZ9yX8wV7uT6sR5qP4oN3mL2kJ1iH0gF9eD8cB7aZ6y==',
  'id 123e4567-e89b-12d3-a456-426614174000',
  'cd /home/dev/projects/candor/agent/src/redact',
  'C:\\Users\\Public\\Documents\\report.docx',
  'listen on 127.0.0.1:8080 and 0.0.0.0',
  'std::vector<int> v; v[1::2]',
  'at 12:30:45 the job ran',
  'chmod 0755 deploy.sh',
  'timestamp 1700000000000',
  'order #4111111111111112 shipped',
  'ISBN 978-3-16-148410-0',
  'const password = getPassword();',
  'if (token === undefined) throw new Error("token required")',
  'password: string;',
  'the password is incorrect',
  'reset your password here',
  'Hi team, the build is green',
  'Thanks, will do',
  'Dear all,',
  'class UserProfileCardComponent extends React.Component',
  'export const API_BASE_URL = "https://api.example.com/v1/users?page=2"',
  'SELECT id, email FROM users WHERE id = 42;',
  'docker run -p 5432:5432 postgres:16',
  'KEY_ID=test-key-2; timeout=30000',
  'matrix 3x3, 1e-9 tolerance, 0xFF mask',
  'python -m pytest tests/ -k "test_login and not slow"',
  'ssh-ed25519 key fingerprint SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8',
  'look at github.com for the docs',
  'meet at noon at the cafe',
  'convert logo.png -resize 50% logo@2x.png',
  'date -u +%Y-%m-%dT%H:%M:%SZ',
  'docker run -p 8080:80 nginx',
  'export API_TOKEN=$(vault read -field=token secret/ci)',
  '<input type="password" name="password" autocomplete="current-password">',
  'name: Build and test',
  'the token endpoint is rate limited',
  'auth: { user: env.SMTP_USER, pass: env.SMTP_PASS },',
  'bypass=true skip=false',
];

describe('hard negatives survive every detector', () => {
  it.each(HARD_NEGATIVES)('leaves %j untouched', (text) => {
    expect(anyMatch(text)).toEqual([]);
  });
});

describe('checksums', () => {
  it.each([
    ['4111111111111111', true],
    ['4111111111111112', false],
    ['378282246310005', true],
    ['0000000000000000', true],
  ])('luhnValid(%s) is %s', (digits, valid) => {
    expect(luhnValid(digits)).toBe(valid);
  });

  it.each([
    ['DE89370400440532013000', true],
    ['DE89370400440532013001', false],
    ['GB82WEST12345698765432', true],
    ['GB82WEST12345698765433', false],
  ])('ibanValid(%s) is %s', (compact, valid) => {
    expect(ibanValid(compact)).toBe(valid);
  });
});

describe('findSpans', () => {
  const text = 'mail jane@example.com, key sk-proj-T3BlbkFJx9Qm2LpW7zR4vN8c, or call +1 415 555 0132';
  const spansOf = (detectors: Detector[]) => findSpans(text, detectors).map((span) => `${span.detector}:${text.slice(span.start, span.end)}`);

  /** A detector that finds the word "call", for these tests only. */
  const wordCall = (id: DetectorId): Detector => ({
    id,
    version: 1,
    describes: 'the word "call"',
    mayMatch: (_features, line) => line.includes('call'),
    find: (line, found) => {
      const start = line.indexOf('call');
      found.push({ detector: id, start, end: start + 4 });
    },
  });

  it('finds the same in a list of detectors in another order, or with one that is not Candor\'s', () => {
    const shipped = Object.values(DETECTORS);
    const expected = ['email:jane@example.com', 'secret:sk-proj-T3BlbkFJx9Qm2LpW7zR4vN8c', 'phone:+1 415 555 0132'];
    expect(spansOf(shipped)).toEqual(expected);
    expect(spansOf([...shipped].reverse())).toEqual(expected);
    expect(spansOf([...shipped.slice(0, -1), wordCall('person-name')])).toEqual([...expected.slice(0, 2), 'person-name:call', ...expected.slice(2)]);
  });

  it('names a joined span after the earlier detector of the list', () => {
    const named = (detectors: Detector[]) => findSpans(text, detectors).map((span) => span.detector);
    expect(named([wordCall('secret'), wordCall('person-name')])).toEqual(['secret']);
    expect(named([wordCall('person-name'), wordCall('secret')])).toEqual(['person-name']);
  });
});

describe('replaceSpans', () => {
  it('replaces each finding with its detector id and keeps the rest of the line', () => {
    const text = 'mail jane@example.com or call +1 415 555 0132';
    expect(replaceSpans(text, findSpans(text, Object.values(DETECTORS)))).toBe('mail [email] or call [phone]');
  });
});

describe('detector identity', () => {
  it('gives every detector its registry id and a positive version', () => {
    for (const [id, detector] of Object.entries(DETECTORS)) {
      expect(detector.id).toBe(id);
      expect(detector.version).toBeGreaterThanOrEqual(1);
    }
  });
});
