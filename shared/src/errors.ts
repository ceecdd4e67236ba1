/**
 * Two kinds of failure, kept apart on purpose (STYLE.md §11):
 * - `CandorError`: an expected failure (bad input, no consent, unreachable server). It has a
 *   stable `code` and a message safe to show a person. Edges turn it into an HTTP status or a
 *   CLI line and exit code.
 * - `InvariantError`: a broken assumption inside Candor. It is a bug, never shown as advice.
 *
 * Messages never carry payloads, keys or typed text: callers pass descriptions, not values.
 */
export class CandorError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CandorError';
    this.code = code;
  }
}

export class InvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvariantError';
  }
}

/** Throws `InvariantError` when `condition` is false. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}

/** For exhaustive switches over unions: the compiler rejects a missing case. */
export function assertNever(value: never, what: string): never {
  throw new InvariantError(`unhandled ${what}: ${String(value)}`);
}

/** What a log may say about an error: its code, or its class name; never its message, which can quote input. */
export function errorCode(error: unknown): string {
  return error instanceof CandorError ? error.code : error instanceof Error ? error.name : 'unknown';
}
