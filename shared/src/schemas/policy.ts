import { z } from 'zod';
import { PRIVACY_LIMITS } from '../defaults.ts';
import { Slug } from './primitives.ts';

/**
 * The text detectors Candor ships. A policy names the ones it runs; a manifest names the ones
 * that ran, with their versions, so the aggregator can refuse a window from an unknown mix.
 */
export const DETECTOR_IDS = [
  'email',
  'phone',
  'payment-card',
  'us-ssn',
  'iban',
  'ip-address',
  'credential-url',
  'secret',
  'person-name',
] as const;
export const DetectorId = z.enum(DETECTOR_IDS);
export type DetectorId = z.infer<typeof DetectorId>;

/**
 * Detectors no policy may switch off: what they find (contact details, money, government
 * ids, credentials) is never acceptable in any output, whatever a study's purpose.
 */
export const REQUIRED_DETECTORS: readonly DetectorId[] = ['email', 'phone', 'payment-card', 'us-ssn', 'iban', 'credential-url', 'secret'];

/** A lowercase phrase compared with window titles or typed words: printable, one line. */
const Phrase = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[^\p{Lu}\p{C}]+$/u, 'expected a lowercase phrase without control characters');

/**
 * A redaction policy: what the redaction step keeps and drops. It has no defaults on
 * purpose: the file a reviewer approves is exactly what runs, and studies reference it by
 * `canonicalHash(policy)` of that file.
 */
export const RedactionPolicy = z
  .strictObject({
    id: Slug,
    version: z.int().min(1),
    description: z.string().min(1).max(2000),
    detectors: z.array(DetectorId).min(1),
    vocabulary: z.strictObject({
      /** Whether typed vocabulary may be rebuilt at all; a study must also ask for it, per app. */
      enabled: z.boolean(),
      minTokenLength: z.int().min(1).max(PRIVACY_LIMITS.maxTokenLength),
      maxTokenLength: z.int().min(1).max(PRIVACY_LIMITS.maxTokenLength),
      /** Tokens dropped on each side of anything a detector flags (a password's label, a name's surname). */
      neighbourhood: z.int().min(0).max(5),
      /** Whether tokens made only of digits are dropped (order numbers, PINs, extensions). */
      dropNumbers: z.boolean(),
    }),
    sensitiveContext: z.strictObject({
      /** A window title containing any of these makes the whole batch sensitive: nothing is rebuilt. */
      titlePhrases: z.array(Phrase).max(200),
      /** Typing a line with one of these commands means the next lines may answer a password prompt. */
      promptCommands: z.array(Phrase).max(200),
      /** How many lines after such a command are never rebuilt (retries of a password prompt). */
      linesAfterPrompt: z.int().min(1).max(10),
    }),
  })
  .superRefine((policy, ctx) => {
    if (new Set(policy.detectors).size !== policy.detectors.length) {
      ctx.addIssue({ code: 'custom', path: ['detectors'], message: 'lists a detector twice' });
    }
    for (const required of REQUIRED_DETECTORS) {
      if (!policy.detectors.includes(required)) {
        ctx.addIssue({ code: 'custom', path: ['detectors'], message: `must include ${required}` });
      }
    }
    if (policy.vocabulary.minTokenLength > policy.vocabulary.maxTokenLength) {
      ctx.addIssue({ code: 'custom', path: ['vocabulary', 'minTokenLength'], message: 'cannot exceed maxTokenLength' });
    }
  });
export type RedactionPolicy = z.infer<typeof RedactionPolicy>;

/** Where a line of the redaction corpus was typed or shown. */
export const CORPUS_CONTEXTS = ['editor', 'terminal', 'chat', 'form', 'window-title'] as const;

/**
 * One labelled line of the redaction corpus (`seeds/redaction-corpus/`): what a detector
 * should find, as UTF-16 offsets into `text`. A line with no spans is a negative: a policy
 * must leave it untouched.
 */
export const CorpusLine = z
  .strictObject({
    context: z.enum(CORPUS_CONTEXTS),
    text: z.string().min(1).max(4000),
    spans: z.array(z.strictObject({ type: DetectorId, start: z.int().min(0), end: z.int().min(1) })).max(50),
  })
  .superRefine((line, ctx) => {
    let previousEnd = 0;
    line.spans.forEach((span, index) => {
      if (span.end <= span.start || span.end > line.text.length) {
        ctx.addIssue({ code: 'custom', path: ['spans', index], message: 'must lie inside the text' });
      }
      if (span.start < previousEnd) ctx.addIssue({ code: 'custom', path: ['spans', index], message: 'must follow the previous span' });
      previousEnd = span.end;
    });
  });
export type CorpusLine = z.infer<typeof CorpusLine>;
