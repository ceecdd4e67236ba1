import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64Url, generateSigningKeyPair, toBase64Url, type SigningKeyPair } from './crypto.ts';
import {
  EndorsementError,
  endorseServerKey,
  ServerKeyEndorsement,
  verifyServerKeyEndorsement,
  walkServerKeyChain,
  type ServerPublicKey,
} from './endorsement.ts';
import { parseUnknown } from './validation.ts';

const AT = new Date('2026-11-23T10:00:00.000Z');
const keys = [generateSigningKeyPair(), generateSigningKeyPair(), generateSigningKeyPair(), generateSigningKeyPair()] as const;
const [k0, k1, k2, k3] = keys;
const stranger = generateSigningKeyPair();

const publicOf = (pair: SigningKeyPair): ServerPublicKey => ({ keyId: pair.keyId, publicKey: pair.publicKey });

/** k0 → k1 → k2 → k3, each link signed by the key before it. */
const chain = [endorseServerKey(k0, publicOf(k1), AT), endorseServerKey(k1, publicOf(k2), AT), endorseServerKey(k2, publicOf(k3), AT)] as const;
const [link01, link12, link23] = chain;

function codeOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(EndorsementError);
    return (error as EndorsementError).code;
  }
  throw new Error('expected an EndorsementError, nothing was thrown');
}

function flipBit(text: string, bit: number): string {
  const bytes = fromBase64Url(text).slice();
  const index = Math.floor(bit / 8) % bytes.length;
  bytes[index] = (bytes[index] ?? 0) ^ (1 << bit % 8);
  return toBase64Url(bytes);
}

describe('a server key endorsement', () => {
  it('passes the shared schema and verifies against the key it follows, naming the key it endorses', () => {
    const parsed = parseUnknown(ServerKeyEndorsement, link01, 'endorsement');
    const next = verifyServerKeyEndorsement(parsed, publicOf(k0));
    expect(next.keyId).toBe(k1.keyId);
    expect(next.publicKey).toEqual(k1.publicKey);
  });

  it('is refused whatever single bit of its signature is flipped', () => {
    fc.assert(
      fc.property(fc.nat({ max: 64 * 8 - 1 }), (bit) => {
        expect(codeOf(() => verifyServerKeyEndorsement({ ...link01, signature: flipBit(link01.signature, bit) }, publicOf(k0)))).toBe('server-key.bad-endorsement');
      }),
    );
  });

  it('is refused under any key other than the one that signed it, even one claiming its id', () => {
    fc.assert(
      fc.property(fc.constantFrom(k1, k2, k3, stranger), (other) => {
        expect(codeOf(() => verifyServerKeyEndorsement(link01, { keyId: k0.keyId, publicKey: other.publicKey }))).toBe('server-key.bad-endorsement');
        expect(codeOf(() => verifyServerKeyEndorsement(link01, publicOf(other)))).toBe('server-key.bad-endorsement');
      }),
    );
  });

  it.each([
    ['a swapped new key', { ...link01, endorsement: { ...link01.endorsement, newKeyId: stranger.keyId, newPublicKey: toBase64Url(stranger.publicKey) } }],
    ['a changed time', { ...link01, endorsement: { ...link01.endorsement, at: '2026-11-24T10:00:00.000Z' } }],
  ])('is refused after %s', (_name, edited) => {
    expect(codeOf(() => verifyServerKeyEndorsement(edited, publicOf(k0)))).toBe('server-key.bad-endorsement');
  });

  it('fails the schema when its key id is not its key\'s', () => {
    const lying = { ...link01, endorsement: { ...link01.endorsement, newPublicKey: toBase64Url(stranger.publicKey) } };
    expect(ServerKeyEndorsement.safeParse(lying).success).toBe(false);
  });
});

describe('walking the server key chain', () => {
  it.each([
    ['the first key', k0, k3],
    ['a key in the middle', k1, k3],
    ['the newest key', k3, k3],
  ])('leads from %s to the newest key', (_name, pinned, newest) => {
    expect(walkServerKeyChain(publicOf(pinned), chain).keyId).toBe(newest.keyId);
  });

  it('refuses an empty chain: nothing leads from the pinned key', () => {
    expect(codeOf(() => walkServerKeyChain(publicOf(k0), []))).toBe('server-key.not-endorsed');
  });

  it.each([
    ['a link signed by an unrelated key', [link01, endorseServerKey(stranger, publicOf(k2), AT), link23].map((link, index) => (index === 1 ? { ...link, endorsement: { ...link.endorsement, previousKeyId: k1.keyId } } : link)), 'server-key.bad-endorsement'],
    ['an unrelated key endorsing itself into the line', [link01, link12, endorseServerKey(stranger, publicOf(k3), AT)], 'server-key.chain-broken'],
    ['a missing link', [link01, link23], 'server-key.chain-broken'],
    ['a reordered chain', [link12, link01, link23], 'server-key.chain-broken'],
    ['a fork from one key to two', [link01, link12, endorseServerKey(k1, publicOf(stranger), AT)], 'server-key.chain-fork'],
    ['a key endorsed back into the line', [link01, link12, link23, endorseServerKey(k3, publicOf(k1), AT)], 'server-key.chain-fork'],
    ['a chain that never names the pinned key', [endorseServerKey(stranger, publicOf(k3), AT)], 'server-key.not-endorsed'],
  ] as const)('refuses %s', (_name, forged, code) => {
    expect(codeOf(() => walkServerKeyChain(publicOf(k0), forged))).toBe(code);
  });

  it('refuses a chain whose every later link is sound when a single bit of any link from the pinned key on is flipped', () => {
    fc.assert(
      fc.property(fc.nat({ max: chain.length - 1 }), fc.nat({ max: 64 * 8 - 1 }), (index, bit) => {
        const damaged = chain.map((link, at) => (at === index ? { ...link, signature: flipBit(link.signature, bit) } : link));
        expect(codeOf(() => walkServerKeyChain(publicOf(k0), damaged))).toBe('server-key.bad-endorsement');
      }),
    );
  });
});
