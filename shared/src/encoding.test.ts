import { describe, expect, it } from 'vitest';
import { CandorError } from './errors.ts';
import { canonicalJson, fromUtf8, utf8 } from './encoding.ts';

describe('canonicalJson (RFC 8785)', () => {
  it.each([
    // Key order by UTF-16 code units, from RFC 8785 §3.2.3.
    [{ '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew Letter Dalet With Dagesh', '1': 'One', '\ud83d\ude00': 'Emoji: Grinning Face', '\u0080': 'Control', '\u00f6': 'Latin Small Letter O With Diaeresis' },
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'],
    // Number serialisation, from RFC 8785 appendix B; the first literal is the RFC's own and
    // deliberately rounds.
    // eslint-disable-next-line no-loss-of-precision
    [[333333333.33333329, 1e30, 4.5, 2e-3, 0.000001, 1e-7, -0], '[333333333.3333333,1e+30,4.5,0.002,0.000001,1e-7,0]'],
    [{ b: [1, { d: true, c: null }], a: 'x' }, '{"a":"x","b":[1,{"c":null,"d":true}]}'],
    [{ a: undefined, b: 1 }, '{"b":1}'],
  ])('serialises %j canonically', (value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
  });

  it.each([[Number.NaN], [Infinity], [() => 1], [10n]])('refuses %s with a typed error', (value) => {
    expect(() => canonicalJson(value)).toThrow(CandorError);
  });
});

describe('utf8', () => {
  it('round-trips text and refuses invalid bytes with a typed error', () => {
    expect(fromUtf8(utf8('grüße 😀'))).toBe('grüße 😀');
    expect(() => fromUtf8(Uint8Array.of(0xff, 0xfe))).toThrow(CandorError);
  });
});
