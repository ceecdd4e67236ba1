import { collect, cueWords, digitsOf, type Detector } from './detector.ts';

const CARD = /(?<![\w.-])\d(?:[ -]?\d){12,18}(?![\w.-])/g;
// Issuer prefixes (Visa, Mastercard, Amex, Diners, Discover, JCB, UnionPay, Maestro): a
// Luhn-valid run of digits with another prefix is an id, a timestamp or a count.
const CARD_PREFIX = /^(?:4|5[1-5]|2[2-7]|3[47]|3[068]|35|6011|64[4-9]|65|62|5[06-8]|6[37])/;

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let index = digits.length - 1; index >= 0; index -= 1) {
    let value = digits.charCodeAt(index) - 48;
    if (double) {
      value *= 2;
      if (value > 9) value -= 9;
    }
    sum += value;
    double = !double;
  }
  return sum % 10 === 0;
}

export const paymentCard: Detector = {
  id: 'payment-card',
  version: 1,
  describes: 'payment card numbers: 13 to 19 digits, spaced or not, with a card issuer prefix and a valid Luhn checksum',
  mayMatch: (features) => features.digits >= 13 && features.numberRuns.spacedDigits >= 13,
  find(text, found) {
    collect('payment-card', CARD, text, found, (match) => {
      const digits = digitsOf(match[0]);
      return digits.length >= 13 && digits.length <= 19 && CARD_PREFIX.test(digits) && luhnValid(digits);
    });
  },
};

// Area 000, 666 and 900-999, group 00 and serial 0000 are never issued.
const SSN = /(?<![\w-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-])/g;
const SSN_CUE = /\b(?:ssn|social security(?: number| no\.?)?)\b[\s:#=-]{0,4}((?!000|666|9\d\d)\d{3}-?(?!00)\d{2}-?(?!0000)\d{4})(?!\d)/gi;

// The words SSN_CUE opens with.
const SSN_WORDS = cueWords(['ssn', 'social']);

export const usSsn: Detector = {
  id: 'us-ssn',
  version: 1,
  describes: 'US social security numbers written 123-45-6789 or 123 45 6789, and nine digits after "SSN"',
  mayMatch: (features) => features.digits >= 9 && features.numberRuns.spacedDigits >= 9,
  find(text, found, features) {
    collect('us-ssn', SSN, text, found);
    if ((features.cues & SSN_WORDS) !== 0) collect('us-ssn', SSN_CUE, text, found, () => true, 1);
  },
};

// Country code, two check digits, then the account in groups of four, spaced or not.
// COUNTRY_AND_CHECK_DIGITS is how every IBAN begins: a native scan for it is cheaper than
// measuring the run of IBAN characters, which it spares most lines.
const COUNTRY_AND_CHECK_DIGITS = /[A-Z]{2}\d{2}/;
const IBAN = /(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![\w])/g;

/** ISO 7064 mod 97-10 over the rearranged IBAN, digit by digit so it never overflows. */
export function ibanValid(compact: string): boolean {
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let remainder = 0;
  for (const char of rearranged) {
    const code = char.charCodeAt(0);
    const value = code >= 65 ? code - 55 : code - 48;
    remainder = value >= 10 ? (remainder * 100 + value) % 97 : (remainder * 10 + value) % 97;
  }
  return remainder === 1;
}

export const iban: Detector = {
  id: 'iban',
  version: 1,
  describes: 'international bank account numbers (IBAN), spaced or not, with a valid mod-97 checksum',
  // The shortest IBAN (Norway, 15 characters) has 13 digits; no country has fewer than 8.
  mayMatch: (features, text) => features.digits >= 8 && features.capitals >= 2 && COUNTRY_AND_CHECK_DIGITS.test(text) && features.numberRuns.ibanCharacters >= 15,
  find(text, found) {
    collect('iban', IBAN, text, found, (match) => {
      const compact = match[0].replace(/ /g, '');
      return compact.length >= 15 && compact.length <= 34 && ibanValid(compact);
    });
  },
};
