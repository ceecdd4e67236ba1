import type { z } from 'zod';
import { CandorError } from './errors.ts';

export type Issue = { path: string; message: string };

/** Every boundary's parse failure: one error type listing each `path: message`. */
export class ValidationError extends CandorError {
  readonly issues: readonly Issue[];

  constructor(issues: readonly Issue[], what = 'input') {
    super('validation', `invalid ${what}: ${issues.map(formatIssue).join('; ')}`);
    this.name = 'ValidationError';
    this.issues = issues;
  }
}

function formatIssue(issue: Issue): string {
  return `${issue.path === '' ? '(root)' : issue.path}: ${issue.message}`;
}

type SchemaInternals = { _zod: { def: Record<string, unknown> } };

function isSchema(value: unknown): value is SchemaInternals {
  return typeof value === 'object' && value !== null && '_zod' in value;
}

const declaredKeysCache = new WeakMap<object, ReadonlySet<string>>();

/**
 * The object keys a schema declares, at any depth. Only these may appear in an error path:
 * any other key came from the input (a record key can be a typed token), so it is masked.
 */
function declaredKeys(schema: z.ZodType): ReadonlySet<string> {
  const cached = declaredKeysCache.get(schema);
  if (cached) return cached;
  const keys = new Set<string>();
  const seen = new Set<unknown>();
  const walk = (node: SchemaInternals): void => {
    if (seen.has(node)) return;
    seen.add(node);
    const def = node._zod.def;
    for (const [name, value] of Object.entries(def)) {
      if (name === 'shape' && typeof value === 'object' && value !== null) {
        for (const [key, child] of Object.entries(value)) {
          keys.add(key);
          if (isSchema(child)) walk(child);
        }
      } else if (isSchema(value)) {
        walk(value);
      } else if (Array.isArray(value)) {
        value.filter(isSchema).forEach(walk);
      }
    }
  };
  walk(schema as unknown as SchemaInternals);
  declaredKeysCache.set(schema, keys);
  return keys;
}

function pathOf(path: readonly PropertyKey[], known: ReadonlySet<string>): string {
  return path
    .map((part) => (typeof part === 'number' ? `[${part}]` : `.${typeof part === 'string' && known.has(part) ? part : '*'}`))
    .join('')
    .replace(/^\./, '');
}

function messageOf(issue: z.core.$ZodIssue): string {
  // zod names the offending keys in these two messages; the keys are input, so count them.
  if (issue.code === 'unrecognized_keys') return issue.keys.length === 1 ? 'unknown key' : `${issue.keys.length} unknown keys`;
  if (issue.code === 'invalid_key') return 'invalid key';
  return issue.message;
}

/**
 * Parses a value that crossed a boundary. The error names declared paths and expectations
 * only, never input values or keys the schema does not declare, so it is safe to log and show.
 * @throws ValidationError listing every problem found.
 */
export function parseUnknown<S extends z.ZodType>(schema: S, value: unknown, what?: string): z.output<S> {
  const result = schema.safeParse(value, { reportInput: false });
  if (result.success) return result.data;
  const known = declaredKeys(schema);
  throw new ValidationError(
    result.error.issues.map((issue) => ({ path: pathOf(issue.path, known), message: messageOf(issue) })),
    what,
  );
}

/** `text` read as JSON of `schema`'s shape, or undefined when it is not JSON or not that shape. */
export function parseJsonOrUndefined<S extends z.ZodType>(schema: S, text: string): z.output<S> | undefined {
  try {
    const result = schema.safeParse(JSON.parse(text));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}
