import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { editedCorpusLines } from '../../../../tests/support/corpus-lines.ts';
import { DETECTORS, findSpans } from '../detect.ts';
import { eachAddress } from './contact.ts';
import { measureDigitRuns, SHORTEST_NUMBER } from './detector.ts';
import { eachLabel, eachLongValue, labelStartsName } from './secrets.ts';

/**
 * The scanners find from where a match can only begin what one global pattern used to find by
 * trying every position. The straightforward patterns are kept here, as the reference, and
 * never in the product.
 */
const REFERENCE_ADDRESS =
  /(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])/g;
const REFERENCE_LONG_VALUE = /(?<![\w+/=-])[A-Za-z0-9+/_-]{32,}={0,2}(?![\w+/=-])/g;
const REFERENCE_LABELLED =
  /\b(?:[A-Za-z0-9]+[_-])*(?:password|passwd|pwd|pass|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|auth[_-]?token|credentials?|bearer)\b(["']?)(\s*)([:=]|\s(?=\S{8,}))(\s*)(?:"([^"\n]{1,200})"|'([^'\n]{1,200})'|([^\s"',;)]+))/gi;

// The runs the number detectors are measured by: phone-number characters (and anything beyond
// ASCII, which may be a no-break space), and within them the card and SSN characters.
const REFERENCE_PHONE_RUN = /(?:[\d\s+().\-/]|[^\0-\x7f])+/g;
const REFERENCE_SPACED_RUN = /[\d -]+/g;

/** The most digits in one run of `pattern`, as every detector reads it: exact from SHORTEST_NUMBER, else "fewer". */
function referenceDigits(pattern: RegExp, text: string): number {
  let most = 0;
  for (const match of referenceMatches(pattern, text)) most = Math.max(most, match[0].replace(/\D/g, '').length);
  return most;
}

const fewerThanShortest = (digits: number) => (digits >= SHORTEST_NUMBER ? digits : 'fewer');

function referenceMatches(pattern: RegExp, text: string): RegExpExecArray[] {
  const matches: RegExpExecArray[] = [];
  pattern.lastIndex = 0;
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) matches.push(match);
  return matches;
}

function addressesOf(text: string): number[][] {
  const visited: number[][] = [];
  eachAddress(text, visited, (_text, into, start, at, end) => into.push([start, at, end]));
  return visited;
}

function longValuesOf(text: string): number[][] {
  const visited: number[][] = [];
  eachLongValue(text, visited, (_text, into, start, end) => into.push([start, end]));
  return visited;
}

/** A label match as what decides the secret: where it ends and its groups (its start is the name's). */
const labelShape = (match: RegExpExecArray) => [match.index + match[0].length, ...match.slice(1)];

function labelsOf(text: string): unknown[][] {
  const visited: unknown[][] = [];
  eachLabel(text, visited, (into, match) => into.push(labelShape(match)));
  return visited;
}

// Corpus lines, or two joined, cut anywhere and edited where the scanners decide things.
const EDITS = ['@', '@@', '.', '..', '-', '_', '__', '%', '+', '/', '=', '==', '===', ' ', ':', '"', "'", '\n', 'é', 'git@', 'a@b.co', '@2x.png', 'DB_', 'x-', 'password=', 'Secret: ', 'api_key', 'aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5'];
const editedLines = editedCorpusLines({ joints: ['', ' ', '\n', '=', '_'], edits: EDITS, maxEdits: 5 });
// Strings from the few characters each pattern turns on, so the edges come up often.
const stringsOf = (characters: string[], maxLength: number) => fc.string({ unit: fc.constantFrom(...characters), maxLength });
const addressLike = stringsOf(['a', 'Z', '7', '.', '-', '_', '%', '+', '@', ' ', ':', 'é', 'co', 'git'], 40);
const valueLike = stringsOf(['a', 'Z', '7', 'q', 'X', '+', '/', '_', '-', '=', ' ', '.', ':'], 120);
// Digits, what runs may hold, and letters and `:` `_` that end them, as often as the rest.
const numberLike = stringsOf(['1', '0', '9', '1234', '12345678', ' ', '-', '+', '(', ')', '.', '/', '\t', '\u00a0', 'é', 'a', 'b', 'x', 'Z', ':', '_', ',', 'ab', 'xyz:'], 80);
const labelLike = fc
  .array(
    fc.constantFrom('password', 'pass', 'pwd', 'Secret', 'TOKEN', 'api_key', 'apikey', 'access-key', 'client_secret', 'auth_token', 'credentials', 'bearer', 'DB', 'my', 'x1', '_', '-', '__', '=', ':', ' ', '  ', '"', "'", 'hunter22', 'abcdefgh12', '$VAR', '\n', ','),
    { maxLength: 12 },
  )
  .map((words) => words.join(''));

describe('the scanners find what the straightforward patterns find', () => {
  it('finds email addresses from their @ exactly where the address pattern matches', () => {
    fc.assert(
      fc.property(fc.oneof(editedLines, addressLike), (text) => {
        const expected = referenceMatches(REFERENCE_ADDRESS, text).map((match) => [match.index, match.index + match[0].indexOf('@'), match.index + match[0].length]);
        expect(addressesOf(text)).toEqual(expected);
      }),
      { numRuns: 5000 },
    );
  });

  it('finds long values by their runs exactly where the long-value pattern matches', () => {
    fc.assert(
      fc.property(fc.oneof(editedLines, valueLike), (text) => {
        expect(longValuesOf(text)).toEqual(referenceMatches(REFERENCE_LONG_VALUE, text).map((match) => [match.index, match.index + match[0].length]));
      }),
      { numRuns: 5000 },
    );
  });

  it('measures digit runs from every eighth character exactly where a run holds eight digits or more', () => {
    fc.assert(
      fc.property(fc.oneof(editedLines, numberLike), (text) => {
        const [spaced, phone] = measureDigitRuns(text);
        expect([fewerThanShortest(spaced), fewerThanShortest(phone)]).toEqual([
          fewerThanShortest(referenceDigits(REFERENCE_SPACED_RUN, text)),
          fewerThanShortest(referenceDigits(REFERENCE_PHONE_RUN, text)),
        ]);
      }),
      { numRuns: 5000 },
    );
  });

  it('finds labelled values from the label word with the same ends and groups as the pattern that reads the whole name', () => {
    fc.assert(
      fc.property(fc.oneof(editedLines, labelLike), (text) => {
        expect(labelsOf(text)).toEqual(referenceMatches(REFERENCE_LABELLED, text).map(labelShape));
      }),
      { numRuns: 5000 },
    );
  });
});

describe('a label starts a name', () => {
  it.each([
    ['password=x', 0, true],
    ['DB_PASSWORD=x', 3, true],
    ['MY_DB_PASSWORD=x', 6, true],
    ['aws-secret=x', 4, true],
    ['x1_token: y', 3, true],
    ['(password)', 1, true],
    ['mypassword=x', 2, false],
    ['__password=x', 2, false],
    ['a__password=x', 3, false],
    ['é_password=x', 2, false],
    ['9_password=x', 2, true],
  ] as const)('in %j at %i: %s', (text, index, expected) => {
    expect(labelStartsName(text, index)).toBe(expected);
  });
});

/** What one detector finds in `text`, as the matched substrings. */
const matchesOf = (id: keyof typeof DETECTORS, text: string) => findSpans(text, [DETECTORS[id]]).map((span) => text.slice(span.start, span.end));

describe('email addresses found from their @', () => {
  it.each([
    ['mail jane.doe@example.com now', ['jane.doe@example.com']],
    ['x:a_b+c%d@sub.example.co.uk,', ['a_b+c%d@sub.example.co.uk']],
    ['first a@b.co then c@d.org', ['a@b.co', 'c@d.org']],
    ['(bob@example.org)', ['bob@example.org']],
    // The second @ reaches back into the first address: the pattern never matched there.
    ['a@b.co@c.org', ['a@b.co']],
  ])('finds the addresses in %j', (text, expected) => {
    expect(matchesOf('email', text)).toEqual(expected);
  });

  it.each([
    'git clone git@github.com:org/repo.git',
    // A refused address is still read past: nothing is found in what follows it.
    'git@gitlab.com@x.org',
    'convert logo.png logo@2x.png',
    'npm i lodash@4.17.21 @types/node@20.11.5',
    '.jane@example.com and jane.@example.com',
    'user@localhost and user@host.c',
    'a @ b.com, @example.com, user@ example.com',
    'me@2001.db8',
  ])('finds nothing in %j', (text) => {
    expect(matchesOf('email', text)).toEqual([]);
  });
});

describe('long values found by their runs', () => {
  it.each([
    ['aws_secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'],
    ['value aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5== end', 'aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5=='],
    ['"c3McqhcM9ZOcZLbzRz2a5n1Cv9IO73wRs4AmQQypgF7m"', 'c3McqhcM9ZOcZLbzRz2a5n1Cv9IO73wRs4AmQQypgF7m'],
  ])('finds the value in %j', (text, expected) => {
    expect(matchesOf('secret', text)).toEqual([expected]);
  });

  it.each([
    'integrity sha512-9u/8Y7Q4m3kD6pZ2nL1xV0wS5tR8oN7jH4gF3eD2cB1aZ9yX8wV7uT6sR5qP4oN3mL2kJ1iH0gF9eD8cB7aZ6y==',
    'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    'fingerprint SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8',
    'commit 9fceb02d0ae598e95dc970b74767f19372d61af8 and 9FCEB02D0AE598E95DC970B74767F19372D61AF8',
    'id 123e4567-e89b-12d3-a456-426614174000',
    'cd /usr/local/lib/node_modules/typescript/lib/tsserver',
    'const UserProfileCardComponentFactoryProvider = 1',
    'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  ])('leaves %j untouched', (text) => {
    expect(matchesOf('secret', text)).toEqual([]);
  });
});
