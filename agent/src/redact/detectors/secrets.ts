import { collect, cueWords, entropyOf, type Detector, type Span, type TextFeatures } from './detector.ts';

/**
 * Known key and token formats, each anchored on a vendor prefix so that ordinary words and
 * hashes never match. Sources: the vendors' own token-format documentation.
 */
const KNOWN_FORMATS: readonly RegExp[] = [
  /\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b/g, // AWS access key ids
  /\bAIza[0-9A-Za-z_-]{35}(?![\w-])/g, // Google API keys
  /\bya29\.[0-9A-Za-z_-]{20,}/g, // Google OAuth access tokens
  /\bGOCSPX-[0-9A-Za-z_-]{20,}/g, // Google OAuth client secrets
  /(?<![\w~.-])[0-9A-Za-z_~.-]{3}\dQ~[0-9A-Za-z_~.-]{31,34}(?![\w~.-])/g, // Azure AD client secrets
  /\bgh[pousr]_[A-Za-z0-9]{36,255}\b/g, // GitHub tokens
  /\bgithub_pat_[A-Za-z0-9_]{22,255}\b/g, // GitHub fine-grained tokens
  /\bgl(?:pat|dt|rt|ptt|ft|imt|agent|oas|cbt)-[A-Za-z0-9_-]{20,}/g, // GitLab tokens
  /\bGR1348941[A-Za-z0-9_-]{20,}/g, // GitLab runner registration tokens
  /\bxox[abposre]-[A-Za-z0-9-]{10,}/g, // Slack tokens
  /\bxapp-\d-[A-Za-z0-9-]{10,}/g, // Slack app tokens
  /https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9/]+/g, // Slack webhooks
  /\bsk-ant-[A-Za-z0-9_-]{20,}/g, // Anthropic keys
  /\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}/g, // OpenAI keys
  /\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}/g, // Stripe keys
  /\bnpm_[A-Za-z0-9]{36}\b/g, // npm tokens
  /\bpypi-[A-Za-z0-9_-]{50,}/g, // PyPI tokens
  /\bhf_[A-Za-z0-9]{30,}\b/g, // Hugging Face tokens
  /\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}/g, // SendGrid keys
  /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, // JWTs
  /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)?/g, // PEM
  /\b(?:AccountKey|SharedAccessKey)=[A-Za-z0-9+/=]{20,}/g, // Azure connection strings
];
// One pass for all of them: every format is a run of at least 15 token characters, or PEM armour.
const ANY_KNOWN_FORMAT = new RegExp(KNOWN_FORMATS.map((pattern) => pattern.source).join('|'), 'g');
// The Azure client secret is the one format with no prefix, so it can begin anywhere and makes
// the pass try it at every position; without its `Q~` the text cannot hold one, and the same
// pass without it finds the same.
const AZURE_MARK = 'Q~';
const ANY_KNOWN_FORMAT_BUT_AZURE = new RegExp(
  KNOWN_FORMATS.filter((pattern) => !pattern.source.includes(AZURE_MARK)).map((pattern) => pattern.source).join('|'),
  'g',
);
// Every format but the Azure client secret opens with a vendor prefix or PEM armour's BEGIN:
// these are their first letters (keep in step with KNOWN_FORMATS), the two-letter ones where
// a word starts, as the formats' `\b` puts them. A line with none of them and no `Q~` holds no
// known format, and most lines with a long run of key characters (paths, hashes, URLs) are
// ruled out by this before the alternation runs.
const KNOWN_PREFIX_CUE = cueWords([
  ...['akia', 'asia', 'abia', 'acca', 'agpa', 'aida', 'aroa', 'anpa', 'anva', 'aipa'], // AWS
  ...['aiza', 'ya', 'gocspx'], // Google
  ...['ghp', 'gho', 'ghu', 'ghs', 'ghr', 'github'], // GitHub
  ...['glpat', 'gldt', 'glrt', 'glptt', 'glft', 'glimt', 'glagent', 'gloas', 'glcbt', 'gr'], // GitLab
  ...['xox', 'xapp', 'hooks'], // Slack
  ...['sk', 'rk', 'npm', 'pypi', 'hf', 'sg', 'eyj'], // Anthropic, OpenAI, Stripe, npm, PyPI, Hugging Face, SendGrid, JWTs
  ...['accountkey', 'sharedaccesskey'], // Azure connection strings
  'begin', // PEM
]);
const PEM_MARK = '-----';
const mayHoldPem = (features: TextFeatures, text: string) => (features.cues & KNOWN_PREFIX_CUE) !== 0 && text.includes(PEM_MARK);
// Each labelled, spoken, command-line and bearer pattern below contains one of its family's
// words, so the features' cue bits tell which patterns a line can match. Most text has none.
const LABEL_CUE = cueWords(['pass', 'pwd', 'secret', 'token', 'key', 'credential', 'bearer']);
const COMMAND_CUE = cueWords(['curl', 'wget', 'http', 'login', 'mysql']);
const SAID_CUE = cueWords(['pass', 'pin']);
const BEARER_CUE = cueWords(['bearer', 'basic', 'token']);
const ANY_CUE = LABEL_CUE | COMMAND_CUE | SAID_CUE | BEARER_CUE;
const SAID_WORDS = /\b(?:is|was|ist|est)\b/;

// A label that announces a secret, then `=` or `:` (or a space before a long value), then
// the value: quoted (up to the closing quote) or bare. The label may be the last word of a
// name like DB_PASSWORD or aws-secret-token: that is checked in `labelStartsName`, so that
// the pattern starts at the label word rather than trying every word before it.
const LABELLED =
  /(?:password|passwd|pwd|pass|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|auth[_-]?token|credentials?|bearer)\b(["']?)(\s*)([:=]|\s(?=\S{8,}))(\s*)(?:"([^"\n]{1,200})"|'([^'\n]{1,200})'|([^\s"',;)]+))/gi;
// Prose: "my password is …", "the PIN is …".
const SAID = /\b(?:password|passphrase|passcode|pin|passwort|mot de passe)\s+(?:is|was|ist|est)\s*:?\s+(\S{4,})/gi;
// Passwords given on a command line: `curl -u user:pass`, `--password pass`, `login … -p pass`,
// each with text it cannot match without.
const COMMAND_LINE: readonly { pattern: RegExp; needs: string }[] = [
  { pattern: /\b(?:curl|wget|http)\b[^\n|;&]*?\s(?:-u|--user)\s+[^\s:]+:(\S+)/g, needs: '-u' },
  { pattern: /(?:^|\s)--password[=\s]+(\S+)/g, needs: '--password' },
  { pattern: /\b(?:login|sshpass|mysql|mysqladmin)\b[^\n|;&]*?\s-p\s?(\S+)/g, needs: '-p' },
];
// What follows `-p` or `-u user:` and is not a password: a port mapping or a variable.
const PORT_OR_VARIABLE = /^(?:\d+(?::\d+)?|\$.*)$/;
const BEARER = /\b(?:Bearer|Basic|token)\s+([A-Za-z0-9._~+/-]{16,}=*)/g;
// Long values made of letters and digits in both cases: generated keys with no known prefix.
// `eachLongValue` finds what /(?<![\w+/=-])[A-Za-z0-9+/_-]{32,}={0,2}(?![\w+/=-])/g would: a
// whole run of these characters, then at most two `=` of padding, with no `=` before.
const LONG_VALUE_LENGTH = 32;
const VALUE_CHARACTER = new Uint8Array(128);
for (let code = 0; code < 128; code += 1) VALUE_CHARACTER[code] = /[A-Za-z0-9+/_-]/.test(String.fromCharCode(code)) ? 1 : 0;
const EQUALS = 61;
// Base64 digests (`sha512-…` integrity, `SHA256:…` fingerprints) are hashes: they survive.
const DIGEST_PREFIX = /^sha(?:1|256|384|512)-/i;
const DIGEST_LABEL = /(?:sha(?:1|256|384|512)|md5)[:-]$/i;
const isValueCharacter = (code: number) => code < 128 && VALUE_CHARACTER[code] === 1;

const NOT_A_VALUE = /^(?:true|false|null|none|nil|undefined|required|optional|string|incorrect|wrong|invalid|expired|empty|missing|correct|reset|changed|hashed|stored|set|not|too|the|a|an|is|was|for|and|or|here)$/i;

// Placeholders and references: $VAR, ${VAR}, %VAR%, <your-key>, {{ secret }}, ****.
const PLACEHOLDER = /^(?:\$|%|<|\{|\*{3,}|x{3,}|\.{3})/i;
const CODE_PUNCTUATION = /[().[\]]/;
const CAMEL_CASE_NAME = /^[a-z]+[A-Z][A-Za-z]*$/;
const DIGIT = /\d/;
const LETTER = /[A-Za-z]/;
const NOT_WORD = /[^\w]/;
const PATH_WORD = /^[a-z]{3,}$/;

const isCommandLinePassword = (match: RegExpExecArray) => !PORT_OR_VARIABLE.test(match[1] ?? '');
const isSaidPassword = (match: RegExpExecArray) => !NOT_A_VALUE.test(match[1] ?? '');
const isBearerToken = (match: RegExpExecArray) => looksGenerated(match[1] ?? '') || (match[1] ?? '').length >= 20;

/** The value of a LABELLED match and whether it was quoted. */
function labelledValue(match: RegExpExecArray): { value: string; quoted: boolean } {
  const quoted = match[5] ?? match[6];
  return quoted === undefined ? { value: match[7] ?? '', quoted: false } : { value: quoted, quoted: true };
}

/** Whether a labelled value is a literal secret rather than code that names one. */
function isLiteralSecret(match: RegExpExecArray): boolean {
  const { value, quoted } = labelledValue(match);
  if (value.length < 4 || PLACEHOLDER.test(value)) return false;
  if (quoted) return true;
  if (NOT_A_VALUE.test(value)) return false;
  // `password = getPassword()`, `token: req.headers.authorization`, `secret: string`: code.
  if (CODE_PUNCTUATION.test(value)) return false;
  // `token abc…` with only a space: a value only when it looks generated, not a word or path.
  if (match[3] !== ':' && match[3] !== '=') return (DIGIT.test(value) && LETTER.test(value) && !value.includes('/')) || looksGenerated(value);
  // `password=hunter2` (config, env, flags) against `password: userInput` (code, prose).
  const tight = match[2] === '' && match[4] === '';
  if (tight) return !CAMEL_CASE_NAME.test(value) || entropyOf(value) >= 3.5;
  return DIGIT.test(value) || NOT_WORD.test(value) || entropyOf(value) >= 3.5;
}

function looksGenerated(value: string): boolean {
  let end = value.length;
  while (end > 0 && value.charCodeAt(end - 1) === 61) end -= 1; // trailing `=` padding
  const body = end === value.length ? value : value.slice(0, end);
  // Lowercase, uppercase and digits are all needed; a value of only hex digits is a hash or
  // an id, which must survive. One pass over the characters answers all four questions.
  let lower = false;
  let upper = false;
  let digit = false;
  let hex = true;
  for (let index = 0; index < body.length; index += 1) {
    const code = body.charCodeAt(index);
    if (code >= 97 && code <= 122) {
      lower = true;
      if (code > 102) hex = false;
    } else if (code >= 65 && code <= 90) {
      upper = true;
      if (code > 70) hex = false;
    } else if (code >= 48 && code <= 57) digit = true;
    else hex = false;
  }
  if (!lower || !upper || !digit || hex) return false;
  if (body.includes('/') && body.split('/').some((segment) => PATH_WORD.test(segment))) return false; // a path
  return entropyOf(body) >= 4.2;
}

/** Whether one span of `found` covers `start` to `end`: redacting it again changes nothing. */
function isCovered(found: readonly Span[], start: number, end: number): boolean {
  for (const span of found) if (span.start <= start && span.end >= end) return true;
  return false;
}

/**
 * Calls `visit` with the start and end of each match of the long-value pattern above, in
 * order, measuring runs of characters instead of trying the pattern at every position. A run
 * of 32 or more covers one of any 32 positions in a row, so only every 32nd character is
 * looked at until one is inside a run. Exported for the equivalence test.
 */
export function eachLongValue<T>(text: string, into: T, visit: (text: string, into: T, start: number, end: number) => void): void {
  const length = text.length;
  // Where the next run that can be long enough is looked for: one character past the last run
  // measured (or before the text) plus 32 covers every run beginning after it.
  for (let probe = LONG_VALUE_LENGTH - 1; probe < length; ) {
    if (!isValueCharacter(text.charCodeAt(probe))) {
      probe += LONG_VALUE_LENGTH;
      continue;
    }
    let start = probe;
    while (start > 0 && isValueCharacter(text.charCodeAt(start - 1))) start -= 1;
    let end = probe + 1;
    while (end < length && isValueCharacter(text.charCodeAt(end))) end += 1;
    let padded = end;
    while (padded < length && text.charCodeAt(padded) === EQUALS) padded += 1;
    // No `=` before, at most two after, then nothing the value could go on with.
    const alone = (start === 0 || text.charCodeAt(start - 1) !== EQUALS) && (padded === length || !isValueCharacter(text.charCodeAt(padded)));
    if (end - start >= LONG_VALUE_LENGTH && padded - end <= 2 && alone) visit(text, into, start, padded);
    probe = end + LONG_VALUE_LENGTH;
  }
}

function keepLongValue(text: string, found: Span[], start: number, end: number): void {
  // A value already found whole (a known key format, say) needs no second look.
  if (isCovered(found, start, end)) return;
  const value = text.slice(start, end);
  if (looksGenerated(value) && !DIGEST_PREFIX.test(value) && !DIGEST_LABEL.test(text.slice(Math.max(0, start - 7), start))) {
    found.push({ detector: 'secret', start, end });
  }
}

const UNDERSCORE = 95;
const isAlphanumeric = (code: number) => (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || (code >= 48 && code <= 57);

/**
 * Whether the label word at `index` may open a match of /\b(?:[A-Za-z0-9]+[_-])*LABEL/: it
 * begins a word (nothing of `\w` before it), or follows `_` and a run of letters and digits
 * that does in turn (DB_PASSWORD, MY_DB_PASSWORD). After `-` a word always begins.
 */
export function labelStartsName(text: string, index: number): boolean {
  let at = index;
  for (;;) {
    const before = at === 0 ? -1 : text.charCodeAt(at - 1);
    if (before === -1 || (!isAlphanumeric(before) && before !== UNDERSCORE)) return true;
    if (before !== UNDERSCORE || at < 2 || !isAlphanumeric(text.charCodeAt(at - 2))) return false;
    at -= 2;
    while (at > 0 && isAlphanumeric(text.charCodeAt(at - 1))) at -= 1;
  }
}

/**
 * Calls `visit` with each match of LABELLED that starts a name (see `labelStartsName`), in
 * order: the same values, groups and ends as the pattern with the name's words written in
 * front, /\b(?:[A-Za-z0-9]+[_-])*LABELLED/gi, would give. Exported for the equivalence test.
 */
export function eachLabel<T>(text: string, into: T, visit: (into: T, match: RegExpExecArray) => void): void {
  LABELLED.lastIndex = 0;
  for (let match = LABELLED.exec(text); match !== null; match = LABELLED.exec(text)) {
    if (labelStartsName(text, match.index)) {
      visit(into, match);
      continue;
    }
    // Not a label here ("mypassword="): look again from the next character, where a label
    // that starts a name may begin.
    LABELLED.lastIndex = match.index + 1;
  }
}

function keepLabelled(found: Span[], match: RegExpExecArray): void {
  if (!isLiteralSecret(match)) return;
  const { value, quoted } = labelledValue(match);
  const start = match.index + match[0].length - value.length - (quoted ? 1 : 0);
  found.push({ detector: 'secret', start, end: start + value.length });
}

export const secret: Detector = {
  id: 'secret',
  version: 1,
  describes:
    'secrets: AWS, Google, Azure, GitHub, GitLab, Slack, OpenAI, Anthropic, Stripe, npm, PyPI and Hugging Face key formats, JWTs, PEM private keys, values after password=/secret=/token= and "my password is", bearer tokens, and long generated-looking values',
  mayMatch: (features, text) => features.longestRun >= 15 || (features.cues & ANY_CUE) !== 0 || mayHoldPem(features, text),
  find(text, found, features) {
    // Every known format but PEM armour is a run of at least 15 key characters.
    const long = features.longestRun >= 15;
    const azure = long && text.includes(AZURE_MARK);
    if ((long && (azure || (features.cues & KNOWN_PREFIX_CUE) !== 0)) || mayHoldPem(features, text)) {
      collect('secret', azure ? ANY_KNOWN_FORMAT : ANY_KNOWN_FORMAT_BUT_AZURE, text, found);
    }
    const families = features.cues & ANY_CUE;
    // `--password` and `sshpass` contain "pass"; the spoken "password is", "passcode is" and
    // "PIN is" contain "pass" or "pin".
    if ((families & LABEL_CUE) !== 0) eachLabel(text, found, keepLabelled);
    if ((families & COMMAND_CUE) !== 0 || ((families & SAID_CUE) !== 0 && (text.includes('--password') || text.includes('sshpass')))) {
      for (const { pattern, needs } of COMMAND_LINE) {
        if (text.includes(needs)) collect('secret', pattern, text, found, isCommandLinePassword, 1);
      }
    }
    if ((families & SAID_CUE) !== 0 && SAID_WORDS.test(text)) {
      collect('secret', SAID, text, found, isSaidPassword, 1);
    }
    if ((families & BEARER_CUE) !== 0 && features.longestRun >= 16) {
      collect('secret', BEARER, text, found, isBearerToken, 1);
    }
    if (features.longestRun < 32) return;
    eachLongValue(text, found, keepLongValue);
  },
};
