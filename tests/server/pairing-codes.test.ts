/**
 * Pairing codes a participant can read aloud and type into a shell: Crockford base32, five
 * groups of four, 100 bits, never starting with a dash. However the participant types one —
 * lower case, without hyphens, with spaces, O for 0 — the real server redeems it; a code one
 * symbol off, or in the old base64url shape, is refused. The server keeps only a hash.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentHash, generateSigningKeyPair, randomBytes, randomId, toBase64Url } from '@candor/shared/crypto';
import { canonicalPairingCode, formatPairingCode, PAIRING_CODE_BYTES } from '@candor/shared/schemas/control';
import { createWorld, type Session, type World } from './world.ts';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const SHAPE = /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$/;

/** The bytes whose 5-bit groups, most significant first, are `values`. */
function bytesOf(values: readonly number[]): Uint8Array {
  const bits = values.map((value) => value.toString(2).padStart(5, '0')).join('').padEnd(PAIRING_CODE_BYTES * 8, '0');
  return Uint8Array.from((bits.match(/.{8}/g) ?? []).map((byte) => Number.parseInt(byte, 2)));
}

describe('a pairing code as the server makes it', () => {
  it('spells each 5 bits of the random bytes, in order, as one Crockford symbol in groups of four', () => {
    for (const values of [Array.from({ length: 20 }, (_, index) => index), Array.from({ length: 20 }, (_, index) => 31 - index), Array.from({ length: 20 }, (_, index) => (index * 7) % 32)]) {
      const expected = values.map((value) => ALPHABET.charAt(value)).join('');
      expect(formatPairingCode(bytesOf(values)).replaceAll('-', '')).toBe(expected);
    }
  });

  it('is five groups of four symbols that never start with a dash, and random codes do not repeat', () => {
    const codes = Array.from({ length: 500 }, () => formatPairingCode(randomBytes(PAIRING_CODE_BYTES)));
    for (const code of codes) {
      expect(code).toMatch(SHAPE);
      expect(code.startsWith('-')).toBe(false);
    }
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('refuses to be made from fewer random bytes than 100 bits need', () => {
    expect(() => formatPairingCode(randomBytes(PAIRING_CODE_BYTES - 1))).toThrow(RangeError);
  });
});

describe('a pairing code as a participant types it', () => {
  const code = '7K3M-Q9XD-4B2R-HN8C-W1FE';
  const canonical = '7K3MQ9XD4B2RHN8CW1FE';
  it.each([
    ['as shown', code],
    ['in lower case', code.toLowerCase()],
    ['without hyphens', canonical],
    ['with spaces for hyphens', code.replaceAll('-', ' ')],
    ['with a stray hyphen in front, as a shell would never need', `-${code}`],
    ['with I or L for 1', code.replace('1', 'l')],
    ['with a capital I for 1', code.replace('1', 'I')],
  ])('%s reads as the same code', (_, typed) => {
    expect(canonicalPairingCode(typed)).toBe(canonical);
  });

  it('with O for 0 reads as 0', () => {
    expect(canonicalPairingCode('0000-OOOO-oooo-0000-0000')).toBe('0'.repeat(20));
  });

  it.each([
    ['one symbol short', code.slice(0, -1)],
    ['one symbol too many', `${code}X`],
    ['with U, which Crockford base32 leaves out', code.replace('7', 'U')],
    ['in the old base64url shape', 'A'.repeat(22)],
    ['with an underscore', code.replace('-', '_')],
    ['with a non-ASCII look-alike', code.replace('K', 'Κ')],
    ['empty', ''],
    ['only dashes', '--'],
  ])('%s is not a code', (_, typed) => {
    expect(canonicalPairingCode(typed)).toBeNull();
  });
});

describe('redeeming a pairing code at the server', () => {
  let world: World;
  let participant: Session;
  const STUDY = 'codes-study';
  const OTHER = 'codes-other-study';

  beforeAll(async () => {
    world = await createWorld();
    const researcher = await world.signIn(world.person('rita', [{ role: 'researcher', studyId: null }]));
    const reviewer = await world.signIn(world.person('rowan', [{ role: 'privacy_reviewer', studyId: null }]));
    await world.openStudy(STUDY, researcher, reviewer);
    await world.openStudy(OTHER, researcher, reviewer);
    participant = await world.signIn(world.person('pat', [{ role: 'participant', studyId: null }]));
    expect((await world.as(participant, 'POST', `/api/v1/studies/${STUDY}/enroll`)).statusCode).toBe(200);
  });
  afterAll(async () => {
    await world.close();
  });

  const issue = async (): Promise<string> => {
    const response = await world.as(participant, 'POST', `/api/v1/studies/${STUDY}/pairing-codes`);
    expect(response.statusCode).toBe(201);
    return response.json<{ code: string }>().code;
  };
  const redeem = (code: string) =>
    world.as(undefined, 'POST', '/api/v1/devices/pair', { code, studyId: STUDY, devicePublicKey: toBase64Url(generateSigningKeyPair().publicKey), pseudonym: `p_${randomId()}` });

  it('hands out codes of the readable shape', async () => {
    expect(await issue()).toMatch(SHAPE);
  });

  it.each([
    ['in lower case without hyphens', (code: string) => code.toLowerCase().replaceAll('-', '')],
    ['with spaces for hyphens', (code: string) => code.replaceAll('-', ' ')],
    ['with every 0 typed as O and every 1 as l', (code: string) => code.replaceAll('0', 'O').replaceAll('1', 'l')],
  ])('pairs a device with a code typed %s, once', async (_, typing) => {
    const code = await issue();
    const typed = typing(code);
    expect((await redeem(typed)).statusCode).toBe(201);
    const again = await redeem(code);
    expect(again.statusCode).toBe(400);
    expect(again.json()).toMatchObject({ error: { code: 'pairing.invalid-code' } });
  });

  it('refuses a code one symbol off, and the real code still pairs afterwards', async () => {
    const code = await issue();
    const last = code.at(-1) ?? '';
    const off = `${code.slice(0, -1)}${ALPHABET.charAt((ALPHABET.indexOf(last) + 1) % 32)}`;
    const refused = await redeem(off);
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({ error: { code: 'pairing.invalid-code' } });
    expect((await redeem(code)).statusCode).toBe(201);
  });

  it('refuses a code for another study than the device names, registering and auditing nothing, and the code still pairs its own study', async () => {
    const code = await issue();
    const devices = async (): Promise<unknown[]> => (await world.as(participant, 'GET', '/api/v1/me/participation')).json<{ devices: unknown[] }>().devices;
    const [devicesBefore, auditBefore] = [await devices(), world.store.allAuditRows().length];
    const refused = await world.as(undefined, 'POST', '/api/v1/devices/pair', { code, studyId: OTHER, devicePublicKey: toBase64Url(generateSigningKeyPair().publicKey), pseudonym: `p_${randomId()}` });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ error: { code: 'pairing.wrong-study' } });
    expect(await devices()).toEqual(devicesBefore);
    expect(world.store.allAuditRows()).toHaveLength(auditBefore);
    expect((await redeem(code)).statusCode).toBe(201);
    expect(await devices()).toHaveLength(devicesBefore.length + 1);
  });

  it('refuses a code in the old base64url shape as malformed', async () => {
    const response = await redeem('A'.repeat(22));
    expect(response.statusCode).toBe(400);
    expect(response.body).not.toContain('A'.repeat(22));
  });

  it('keeps only a hash of a code: neither its shown nor its canonical form is in the database files, though its hash is', async () => {
    const code = await issue();
    const canonical = canonicalPairingCode(code) ?? '';
    const files = readdirSync(world.dir).filter((name) => name.startsWith('api.db')).map((name) => readFileSync(join(world.dir, name)));
    const anywhere = (text: string): boolean => files.some((bytes) => bytes.includes(Buffer.from(text)));
    // The control: the same scan finds what the server does store for the code.
    expect(anywhere(contentHash(`candor/pairing-code/v2\n${canonical}`))).toBe(true);
    expect(anywhere(code)).toBe(false);
    expect(anywhere(canonical)).toBe(false);
  });
});
