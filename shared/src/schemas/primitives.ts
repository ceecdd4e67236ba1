import { z } from 'zod';

/** Identifiers chosen by people (study ids, app matchers): short, printable, no surprises. */
export const Slug = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'expected a lowercase slug (a-z, 0-9, . _ -; at most 64)');

/** A random 128-bit identifier in base64url, as `randomId()` makes. */
export const RandomId = z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'expected a 128-bit base64url id');

/** A key's public name, as `keyIdOf()` makes. */
export const KeyId = RandomId;

export const Base64Url = z.string().regex(/^[A-Za-z0-9_-]*$/, 'expected base64url without padding');

/** A content hash (`contentHash()`: BLAKE2b-256) as lowercase hex. */
export const HashHex = z.string().regex(/^[0-9a-f]{64}$/, 'expected a 256-bit lowercase hex hash');

/** An instant in UTC, ISO 8601 with the `Z` suffix (offsets are refused). */
export const UtcTimestamp = z.iso.datetime();

export const Count = z.int().min(0).max(Number.MAX_SAFE_INTEGER);

export const Role = z.enum(['participant', 'researcher', 'privacy_reviewer', 'admin']);
export type Role = z.infer<typeof Role>;
