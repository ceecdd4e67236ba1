import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { parseUnknown, ValidationError } from './validation.ts';

const Schema = z.strictObject({ name: z.string(), items: z.array(z.strictObject({ count: z.int().min(0) })) });

describe('parseUnknown', () => {
  it('returns the parsed value', () => {
    expect(parseUnknown(Schema, { name: 'a', items: [{ count: 1 }] })).toEqual({ name: 'a', items: [{ count: 1 }] });
  });

  it('lists every problem as path: message', () => {
    try {
      parseUnknown(Schema, { name: 5, items: [{ count: 1 }, { count: -2 }] }, 'request');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      const validation = error as ValidationError;
      expect(validation.code).toBe('validation');
      expect(validation.issues.map((issue) => issue.path)).toEqual(['name', 'items[1].count']);
      expect(validation.message).toMatch(/^invalid request: name: .+; items\[1\]\.count: .+$/);
    }
  });

  it.each([
    ['a rejected value', { pin: 'hunter2-canary' }],
    ['an unknown key', { pin: 1, 'hunter2-canary': 1 }],
    ['a bad record key', { pin: 1, tags: { 'hunter2-canary': 1 } }],
    ['a bad value under a record key', { pin: 1, tags: { 'hunter2-canary': 'x' } }],
  ])('never echoes %s in its message or paths', (_, input) => {
    const schema = z.strictObject({ pin: z.int(), tags: z.record(z.string().max(3), z.int()).optional() });
    expect(() => parseUnknown(schema, input)).toThrow(ValidationError);
    expect(() => parseUnknown(schema, input)).not.toThrow(/hunter2/);
  });

  it('keeps the names of keys the schema declares, at any depth', () => {
    const schema = z.strictObject({ outer: z.array(z.strictObject({ inner: z.int() }).nullable().default(null)) });
    expect(() => parseUnknown(schema, { outer: [{ inner: 'x' }] })).toThrow(/outer\[0\]\.inner/);
  });
});
