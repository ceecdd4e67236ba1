import { CandorError } from './errors.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** @throws CandorError `encoding.utf8` when the bytes are not valid UTF-8. */
export function fromUtf8(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch (cause) {
    throw new CandorError('encoding.utf8', 'bytes are not valid UTF-8', { cause });
  }
}

/**
 * RFC 8785 (JCS) canonical JSON: the one serialisation that signatures and hashes cover.
 * Object keys sorted by UTF-16 code units, no whitespace, ECMAScript number and string
 * serialisation (what JSON.stringify does). Written here because the `canonicalize`
 * package's types misdescribe its CommonJS export under `nodenext` resolution.
 * @throws CandorError `encoding.canonical-json` for values JSON cannot represent
 * (non-finite numbers, undefined, functions, symbols, bigints).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new CandorError('encoding.canonical-json', 'non-finite numbers have no JSON form');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value).filter(([, item]) => item !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  throw new CandorError('encoding.canonical-json', `a ${typeof value} has no JSON form`);
}

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Big-endian u32, for length prefixes that keep concatenations unambiguous. */
export function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}
