/**
 * The privacy reviewer's commands:
 * - `candor redact [--policy FILE] [--report]`: stdin lines → redacted lines on stdout;
 *   `--report` prints how many matches each detector removed, on stderr (so stdout stays
 *   the redacted text alone).
 * - `candor explain-policy FILE`: what a policy keeps and drops, in plain language.
 * Both read the policy with the same schema the pipeline uses; neither writes files.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { canonicalHash } from '@candor/shared/crypto';
import { CandorError } from '@candor/shared/errors';
import { RedactionPolicy, type DetectorId } from '@candor/shared/schemas/policy';
import { HISTOGRAM_EDGES } from '@candor/shared/schemas/window';
import { parseUnknown } from '@candor/shared/validation';
import strictPreset from '../../../seeds/policies/strict.v1.json' with { type: 'json' };
import type { CliCommand, ParsedArgs } from '../cli/commands.ts';
import { detectorsFor, findSpans, replaceSpans } from './detect.ts';

export type TextOut = { write(text: string): unknown };

const EXIT_OK = 0;
const EXIT_REFUSED = 1;
const EXIT_USAGE = 2;

/**
 * Reads and validates a policy file.
 * @throws CandorError `redact.policy-unreadable` when the file cannot be read or is not JSON;
 * ValidationError when it is not a valid policy.
 */
export function readPolicy(path: string): RedactionPolicy {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new CandorError('redact.policy-unreadable', `cannot read a JSON policy from ${path}`);
  }
  return parseUnknown(RedactionPolicy, value, `redaction policy ${path}`);
}

function policyFrom(args: ParsedArgs, stderr: TextOut, command: string): RedactionPolicy | undefined {
  const path = args.values.policy;
  try {
    return typeof path === 'string' ? readPolicy(path) : parseUnknown(RedactionPolicy, strictPreset, 'built-in strict policy');
  } catch (error) {
    if (!(error instanceof CandorError)) throw error;
    stderr.write(`candor ${command}: ${error.message}\n`);
    return undefined;
  }
}

/** `candor redact`: returns the exit code; bad policies are one line on stderr, never a stack. */
export async function redact(args: ParsedArgs, stdin: NodeJS.ReadableStream, stdout: TextOut, stderr: TextOut): Promise<number> {
  if (args.positionals.length > 0) {
    stderr.write('candor redact: takes no arguments; pipe text to it\nUsage: candor redact [--policy FILE] [--report]\n');
    return EXIT_USAGE;
  }
  const policy = policyFrom(args, stderr, 'redact');
  if (policy === undefined) return EXIT_REFUSED;
  const detectors = detectorsFor(policy.detectors);
  const counts = new Map<DetectorId, number>(detectors.map((detector) => [detector.id, 0]));
  let lines = 0;
  for await (const line of createInterface({ input: stdin, crlfDelay: Infinity })) {
    const spans = findSpans(line, detectors);
    for (const span of spans) counts.set(span.detector, (counts.get(span.detector) ?? 0) + 1);
    stdout.write(`${replaceSpans(line, spans)}\n`);
    lines += 1;
  }
  if (args.values.report === true) {
    const width = Math.max(...detectors.map((detector) => detector.id.length));
    stderr.write(`redaction report: ${lines} lines, policy ${policy.id} v${policy.version} (${canonicalHash(policy).slice(0, 12)})\n`);
    for (const detector of detectors) stderr.write(`  ${detector.id.padEnd(width)}  v${detector.version}  ${counts.get(detector.id) ?? 0}\n`);
  }
  return EXIT_OK;
}

/** The plain-language description of a policy, as `candor explain-policy` prints it. */
export function explainPolicy(policy: RedactionPolicy): string {
  const detectors = detectorsFor(policy.detectors);
  const vocabulary = policy.vocabulary;
  const context = policy.sensitiveContext;
  const lines = [
    `Redaction policy "${policy.id}", version ${policy.version}`,
    `Hash (what studies reference): ${canonicalHash(policy)}`,
    '',
    policy.description,
    '',
    'What may leave your device, and only for the signals a study asks for:',
    '  - how many keys you pressed, by class (letter, digit, punctuation, whitespace, Enter, Backspace/Delete, navigation, modifier, function);',
    '  - how many times you used each shortcut the study lists (for example Ctrl+Shift+P); other key combinations are not recorded;',
    `  - typing speed over bursts of typing and pauses between keys, as counts in fixed ranges (${HISTOGRAM_EDGES.typingSpeedKpm.join(', ')} keys per minute; ${HISTOGRAM_EDGES.pauseMs.join(', ')} ms);`,
    '  - mouse clicks per button, scroll ticks, and how far and fast the pointer moved, as counts in fixed ranges;',
    '  - seconds of activity per application the study lists, by its label;',
    vocabulary.enabled
      ? `  - counts of the words you type, only in the applications the study lists for this, only words of ${vocabulary.minTokenLength} to ${vocabulary.maxTokenLength} characters that survive every detector below.`
      : '  - no words: this policy never rebuilds what you type.',
    'Every count is for a whole window of the study\'s length (15 minutes by default); no exact times leave.',
    '',
    'What never leaves your device:',
    '  - which keys you pressed, and the text you typed (it is rebuilt in memory only where allowed, counted, and forgotten);',
    '  - window titles, document names and URLs (titles are read only to spot sensitive screens, below);',
    '  - where the pointer was, and what you clicked on.',
    '',
    `Detectors (each finding is removed${vocabulary.enabled && vocabulary.neighbourhood > 0 ? `, with the ${vocabulary.neighbourhood} word${vocabulary.neighbourhood === 1 ? '' : 's'} on either side of it` : ''}; only how many each removed is reported):`,
    ...detectors.map((detector) => `  - ${detector.id} (version ${detector.version}): ${detector.describes}`),
  ];
  if (vocabulary.enabled && vocabulary.dropNumbers) lines.push('Words made only of digits (PINs, order numbers, extensions) are never counted.');
  lines.push(
    '',
    'When nothing is rebuilt and no keys are counted at all:',
    `  - in a window whose title contains any of: ${context.titlePhrases.join(', ')};`,
    `  - for the ${context.linesAfterPrompt} line${context.linesAfterPrompt === 1 ? '' : 's'} typed after a command that may ask for a password: ${context.promptCommands.join(', ')}.`,
    'Applications a study excludes, and Candor\'s built-in list of sensitive applications, are never captured at all.',
  );
  return `${lines.join('\n')}\n`;
}

/** `candor explain-policy FILE`: returns the exit code. */
export function explainPolicyCommand(args: ParsedArgs, _stdin: NodeJS.ReadableStream, stdout: TextOut, stderr: TextOut): Promise<number> {
  const [path, ...extra] = args.positionals;
  if (path === undefined || extra.length > 0) {
    stderr.write('Usage: candor explain-policy FILE\n');
    return Promise.resolve(EXIT_USAGE);
  }
  const policy = policyFrom({ values: { policy: path }, positionals: [] }, stderr, 'explain-policy');
  if (policy === undefined) return Promise.resolve(EXIT_REFUSED);
  stdout.write(explainPolicy(policy));
  return Promise.resolve(EXIT_OK);
}

/** The `candor redact` entry of the CLI's command table. */
export const redactCliCommand: CliCommand = {
  summary: 'redact text from stdin with a redaction policy (for privacy reviewers)',
  usage: 'redact [--policy FILE] [--report]',
  options: { policy: { type: 'string' }, report: { type: 'boolean' } },
  run: (_context, args) => redact(args, process.stdin, process.stdout, process.stderr),
};

/** The `candor explain-policy` entry of the CLI's command table. */
export const explainPolicyCliCommand: CliCommand = {
  summary: 'describe in plain language what a redaction policy keeps and drops',
  usage: 'explain-policy FILE',
  positionals: ['FILE'],
  run: (_context, args) => explainPolicyCommand(args, process.stdin, process.stdout, process.stderr),
};
