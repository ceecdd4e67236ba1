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

/** A context pattern, and text it cannot match without, so most lines skip most patterns. */
type Context = { pattern: RegExp; needs: string[] };

function context(source: string, needs: string[] = []): Context {
  return { pattern: new RegExp(source, 'gmu'), needs };
}

const WORD = String.raw`\p{Lu}\p{Ll}+(?:[-'’]\p{Lu}?\p{Ll}+)*`;
const NAME = String.raw`${WORD}(?:[ ](?:(?:van|von|de|da|di|del|der|le|la|du|bin|al)[ ])?${WORD}){0,2}`;
/**
 * Contexts where a capitalised word is a person's name: introductions, salutations,
 * sign-offs, honorifics and trailers. A name alone, with no such context, is left alone:
 * telling "Jordan" from a product is beyond a pattern, and the vocabulary threshold (k people)
 * covers what is left.
 */
const CONTEXTS: readonly Context[] = [
  context(String.raw`\b(?:${anyCase("my name is|my name's|i am called|call me|je m'appelle|ich heiße|mein name ist")})\s+(${NAME})`),
  context(String.raw`(?:^|[.!?]\s+)(?:${anyCase('dear|hi|hello|hey|hallo|bonjour|liebe|lieber|cher|chère')})\s+(${NAME})\s*[,!:]`, [',', '!', ':']),
  context(
    String.raw`\b(?:${anyCase('best regards|kind regards|warm regards|best wishes|regards|best|cheers|thanks|thank you|sincerely|yours|mit freundlichen grüßen|viele grüße|cordialement|bien à vous')})\s*,\s*(?:-{1,2}\s*)?(${NAME})`,
    [','],
  ),
  context(String.raw`\b(?:Mr|Mrs|Ms|Mx|Dr|Prof|Herr|Frau|Mme|Mlle)\.?\s+(${NAME})`),
  context(String.raw`\b(?:${anyCase('signed-off-by|co-authored-by|reviewed-by|author|from|cc|to|contact|assignee|reporter')}):\s*(${NAME})`, [':']),
  context(String.raw`^\s*--\s*(${NAME})\s*$`, ['--']),
  context(String.raw`\b(?:${anyCase('chat|call|meeting|1:1|message|dm|lunch')}) with (${NAME})`, [' with ']),
  // Form fields: a capitalised label and at least two names, so `name: Build` in YAML is left alone.
  context(String.raw`^\s*(?:Name|Full name|Your name|First name|Last name|Vorname|Nachname|Nom|Prénom)\s*:\s*(${WORD}(?:[ ]${WORD}){1,2})`, [':']),
];
// A word every context above contains (keep in step with CONTEXTS): those of three letters or
// more by their first three (the features' cue bit), the rest by a short pattern.
const NAME_WORDS = cueWords([
  ...['name', 'called', 'appelle', 'heisse', 'dear', 'hello', 'hey', 'hallo', 'bonjour', 'liebe', 'cher', 'regards', 'best', 'cheers'],
  ...['thank', 'sincerely', 'yours', 'cordialement', 'bien', 'mrs', 'mme', 'mlle', 'prof', 'herr', 'frau', 'signed', 'authored'],
  ...['reviewed', 'author', 'from', 'contact', 'assignee', 'reporter', 'with', 'nom'],
]);
const SHORT_NAME_CUE = /\b(?:hi|mr|ms|mx|dr|cc|to)\b|--|grüß/i;

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
  version: 1,
  describes: 'person names in obvious contexts: "my name is …", salutations ("Dear …", "Hi …,"), sign-offs ("Regards, …"), honorifics and commit trailers',
  mayMatch: (features, text) => features.capitalised >= 1 && ((features.cues & NAME_WORDS) !== 0 || SHORT_NAME_CUE.test(text)),
  find(text, found: Span[]) {
    for (const { pattern, needs } of CONTEXTS) {
      if (needs.length > 0 && !includesAny(text, needs)) continue;
      pattern.lastIndex = 0;
      for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
        const name = match[1];
        if (name === undefined) continue;
        // Drop trailing words that are not names ("Hi Anna Team"), keep at least the first.
        const words = name.split(' ');
        while (words.length > 0 && NOT_NAMES.has((words.at(-1) ?? '').toLowerCase())) words.pop();
        if (words.length === 0 || NOT_NAMES.has((words[0] ?? '').toLowerCase())) continue;
        const kept = words.join(' ');
        const start = match.index + match[0].lastIndexOf(name);
        found.push({ detector: 'person-name', start, end: start + kept.length });
      }
    }
  },
};
