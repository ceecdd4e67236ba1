import { cueWords, type Detector, type Span } from './detector.ts';

/**
 * Case-insensitive alternatives without the `i` flag, which would make `\p{Lu}` match
 * lowercase letters too (and a name must start with a capital).
 */
function anyCase(alternatives: string): string {
  return alternatives.replace(/\p{L}/gu, (letter) => {
    const upper = letter.toUpperCase();
    return upper === letter || upper.length !== 1 ? letter : `[${letter}${upper}]`;
  });
}

/**
 * A context pattern, the cue bit of the words it cannot match without (see `cueWords`) and
 * text it cannot match without, so that a line runs only the patterns whose words it holds.
 */
type Context = { pattern: RegExp; cue: number; needs: string[] };

function context(source: string, cue: number, needs: string[] = []): Context {
  return { pattern: new RegExp(source, 'gmu'), cue, needs };
}

const WORD = String.raw`\p{Lu}\p{Ll}+(?:[-'’]\p{Lu}?\p{Ll}+)*`;
const NAME = String.raw`${WORD}(?:[ ](?:(?:van|von|de|da|di|del|der|le|la|du|bin|al)[ ])?${WORD}){0,2}`;
// The words each context below opens with, in every spelling it accepts (keep in step):
// words of three letters or more by their first three, two-letter words where a word starts.
// `heisse` stands for heiße, whose first three letters are ASCII; `ch` for cher and chère.
const INTRODUCTION = cueWords(['name', 'called', 'call', 'appelle', 'heisse']);
const SALUTATION = cueWords(['dear', 'hi', 'hello', 'hey', 'hallo', 'bonjour', 'liebe', 'ch']);
const SIGN_OFF = cueWords(['regards', 'best', 'cheers', 'thanks', 'sincerely', 'yours', 'mit', 'viele', 'cordialement', 'bien']);
const HONORIFIC = cueWords(['mr', 'ms', 'mx', 'dr', 'prof', 'herr', 'frau', 'mme', 'mlle']);
const TRAILER = cueWords(['signed', 'co', 'reviewed', 'author', 'from', 'cc', 'to', 'contact', 'assignee', 'reporter']);
const MEETING = cueWords(['with']);
const FORM_FIELD = cueWords(['name', 'nom']);
const ANY_CUE = INTRODUCTION | SALUTATION | SIGN_OFF | HONORIFIC | TRAILER | MEETING | FORM_FIELD;
/** A context with no cue word: the sign-off line `-- Name`. */
const NO_CUE = 0;

/**
 * Contexts where a capitalised word is a person's name: introductions, salutations,
 * sign-offs, honorifics and trailers. A name alone, with no such context, is left alone:
 * telling "Jordan" from a product is beyond a pattern, and the vocabulary threshold (k people)
 * covers what is left.
 */
const CONTEXTS: readonly Context[] = [
  context(String.raw`\b(?:${anyCase("my name is|my name's|i am called|call me|je m'appelle|ich heiße|mein name ist")})\s+(${NAME})`, INTRODUCTION),
  context(String.raw`(?:^|[.!?]\s+)(?:${anyCase('dear|hi|hello|hey|hallo|bonjour|liebe|lieber|cher|chère')})\s+(${NAME})\s*[,!:]`, SALUTATION, [',', '!', ':']),
  context(
    String.raw`\b(?:${anyCase('best regards|kind regards|warm regards|best wishes|regards|best|cheers|thanks|thank you|sincerely|yours|mit freundlichen grüßen|viele grüße|cordialement|bien à vous')})\s*,\s*(?:-{1,2}\s*)?(${NAME})`,
    SIGN_OFF,
    [','],
  ),
  context(String.raw`\b(?:Mr|Mrs|Ms|Mx|Dr|Prof|Herr|Frau|Mme|Mlle)\.?\s+(${NAME})`, HONORIFIC),
  context(String.raw`\b(?:${anyCase('signed-off-by|co-authored-by|reviewed-by|author|from|cc|to|contact|assignee|reporter')}):\s*(${NAME})`, TRAILER, [':']),
  context(String.raw`^\s*--\s*(${NAME})\s*$`, NO_CUE, ['--']),
  context(String.raw`\b(?:${anyCase('chat|call|meeting|1:1|message|dm|lunch')}) with (${NAME})`, MEETING, [' with ']),
  // Form fields: a capitalised label and at least two names, so `name: Build` in YAML is left alone.
  context(String.raw`^\s*(?:Name|Full name|Your name|First name|Last name|Vorname|Nachname|Nom|Prénom)\s*:\s*(${WORD}(?:[ ]${WORD}){1,2})`, FORM_FIELD, [':']),
];

// Words that follow a salutation or a sign-off but name no one.
const NOT_NAMES = new Set([
  'team', 'all', 'everyone', 'everybody', 'there', 'folks', 'guys', 'both', 'again', 'world', 'friends', 'colleagues',
  'sir', 'madam', 'support', 'again', 'so', 'much', 'you', 'in', 'for', 'a', 'the', 'to', 'and', 'regards', 'advance',
  'this', 'that', 'it', 'is', 'not', 'here', 'test', 'fix', 'bug', 'main', 'master', 'origin', 'head', 'todo', 'note',
  'i', 'we', 'me', 'ok', 'okay', 'yes', 'no', 'thanks', 'customer', 'user', 'admin', 'root', 'hiring', 'manager',
]);

function includesAny(text: string, needles: readonly string[]): boolean {
  for (const needle of needles) if (text.includes(needle)) return true;
  return false;
}

export const personName: Detector = {
  id: 'person-name',
  // Version 2: "Chère …," is found (version 1 ruled it out before looking: the è hid the
  // first three letters of "cher" from its cue words).
  version: 2,
  describes: 'person names in obvious contexts: "my name is …", salutations ("Dear …", "Hi …,"), sign-offs ("Regards, …"), honorifics and commit trailers',
  mayMatch: (features, text) => features.capitalised >= 1 && ((features.cues & ANY_CUE) !== 0 || text.includes('--')),
  find(text, found: Span[], features) {
    for (const { pattern, cue, needs } of CONTEXTS) {
      if (cue !== NO_CUE && (features.cues & cue) === 0) continue;
      if (needs.length > 0 && !includesAny(text, needs)) continue;
      pattern.lastIndex = 0;
      for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
        const name = match[1];
        if (name === undefined) continue;
        // No name when the first word names no one ("Hi team"); trailing words that are not
        // names are dropped ("Hi Anna Team"). Words are measured in place, not split out.
        const firstEnd = name.indexOf(' ');
        if (NOT_NAMES.has(name.slice(0, firstEnd === -1 ? name.length : firstEnd).toLowerCase())) continue;
        let kept = name.length;
        for (let space = name.lastIndexOf(' '); space !== -1 && NOT_NAMES.has(name.slice(space + 1, kept).toLowerCase()); space = name.lastIndexOf(' ', space - 1)) kept = space;
        const start = match.index + match[0].lastIndexOf(name);
        found.push({ detector: 'person-name', start, end: start + kept });
      }
    }
  },
};
