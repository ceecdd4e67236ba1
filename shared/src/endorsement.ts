/**
 * Server signing key rotation that paired agents can follow: at each rotation the outgoing key
 * signs a statement naming the incoming one (an endorsement), Ed25519 over a domain string and
 * RFC 8785 JSON like the other signed objects here. The server publishes the chain, oldest
 * first; an agent walks it from the key it pinned and adopts the newest only if every link
 * from there on is signed by the key before it. A stolen current key can endorse anyone's key:
 * rotation is hygiene, and a compromised key needs re-pairing (docs/agent.md, "Pairing").
 * Runtime-neutral: no Node APIs.
 */
import { z } from 'zod';
import { fromBase64Url, keyIdOf, sign, toBase64Url, verifySignature, type SigningKeyPair } from './crypto.ts';
import { canonicalJson, utf8 } from './encoding.ts';
import { CandorError } from './errors.ts';
import { Base64Url, KeyId, UtcTimestamp } from './schemas/primitives.ts';

const ENDORSEMENT_DOMAIN = 'candor/server-key-endorsement/v1';

export const ServerKeyEndorsement = z.strictObject({
  endorsement: z
    .strictObject({
      domain: z.literal(ENDORSEMENT_DOMAIN),
      previousKeyId: KeyId,
      newKeyId: KeyId,
      newPublicKey: Base64Url.length(43),
      at: UtcTimestamp,
    })
    .refine((statement) => keyIdOf(fromBase64Url(statement.newPublicKey)) === statement.newKeyId, 'the key id is not the id of this key'),
  signature: Base64Url.length(86),
});
export type ServerKeyEndorsement = z.infer<typeof ServerKeyEndorsement>;

/** The public route's answer: every endorsement the server made, oldest first. */
export const ServerKeyChain = z.strictObject({ endorsements: z.array(ServerKeyEndorsement).max(10_000) });
export type ServerKeyChain = z.infer<typeof ServerKeyChain>;

export type ServerPublicKey = { keyId: string; publicKey: Uint8Array };

export type EndorsementErrorCode = 'server-key.bad-endorsement' | 'server-key.chain-broken' | 'server-key.chain-fork' | 'server-key.not-endorsed';

/** Every way a chain can fail to lead from a pinned key; the message never quotes a key. */
export class EndorsementError extends CandorError {
  declare readonly code: EndorsementErrorCode;

  constructor(code: EndorsementErrorCode, message: string) {
    super(code, message);
    this.name = 'EndorsementError';
  }
}

function signingBytes(statement: ServerKeyEndorsement['endorsement']): Uint8Array {
  return utf8(`${ENDORSEMENT_DOMAIN}\n${canonicalJson(statement)}`);
}

/** The outgoing key's half of a rotation: it vouches for `next`. */
export function endorseServerKey(previous: SigningKeyPair, next: ServerPublicKey, at: Date): ServerKeyEndorsement {
  const endorsement = { domain: ENDORSEMENT_DOMAIN, previousKeyId: previous.keyId, newKeyId: next.keyId, newPublicKey: toBase64Url(next.publicKey), at: at.toISOString() } as const;
  return { endorsement, signature: toBase64Url(sign(signingBytes(endorsement), previous.secretKey)) };
}

/**
 * Checks one link against the key it claims to come from.
 * @throws EndorsementError `server-key.bad-endorsement` when it names another previous key,
 * its new key id is not its key's, or the signature does not verify.
 */
export function verifyServerKeyEndorsement(link: ServerKeyEndorsement, previous: ServerPublicKey): ServerPublicKey {
  const { endorsement } = link;
  const newPublicKey = fromBase64Url(endorsement.newPublicKey);
  if (
    endorsement.previousKeyId !== previous.keyId ||
    keyIdOf(previous.publicKey) !== previous.keyId ||
    keyIdOf(newPublicKey) !== endorsement.newKeyId ||
    !verifySignature(fromBase64Url(link.signature), signingBytes(endorsement), previous.publicKey)
  ) {
    throw new EndorsementError('server-key.bad-endorsement', 'a server key endorsement is not signed by the key it follows');
  }
  return { keyId: endorsement.newKeyId, publicKey: newPublicKey };
}

/**
 * Walks `chain` (oldest first) from `pinned` and returns the newest key it leads to, `pinned`
 * itself when nothing follows it. The whole chain must be one line: each link follows the one
 * before it, no key is endorsed twice, no key endorses two, and none comes back.
 * @throws EndorsementError `server-key.chain-fork` (a key endorses two, is endorsed twice, or comes back),
 * `server-key.chain-broken` (a link does not follow the one before it: a gap or a reordering),
 * `server-key.not-endorsed` (the pinned key is not in the chain), `server-key.bad-endorsement`.
 */
export function walkServerKeyChain(pinned: ServerPublicKey, chain: readonly ServerKeyEndorsement[]): ServerPublicKey {
  const endorsers = chain.map(({ endorsement }) => endorsement.previousKeyId);
  const endorsed = chain.map(({ endorsement }) => endorsement.newKeyId);
  if (new Set(endorsers).size !== endorsers.length || new Set(endorsed).size !== endorsed.length) {
    throw new EndorsementError('server-key.chain-fork', 'the server key chain forks: a key endorses two keys or is endorsed twice');
  }
  chain.forEach(({ endorsement }, index) => {
    if (index > 0 && endorsement.previousKeyId !== endorsed[index - 1]) {
      throw new EndorsementError('server-key.chain-broken', 'the server key chain has a gap or is out of order');
    }
  });
  // In one unbroken line with no key endorsed twice, a key can come back only as the first.
  const first = endorsers[0];
  if (first !== undefined && endorsed.includes(first)) {
    throw new EndorsementError('server-key.chain-fork', 'the server key chain endorses a key it had left');
  }
  const last = chain.at(-1);
  if (last?.endorsement.newKeyId === pinned.keyId) return pinned;
  const start = chain.findIndex(({ endorsement }) => endorsement.previousKeyId === pinned.keyId);
  if (start < 0) throw new EndorsementError('server-key.not-endorsed', 'the server key chain does not lead from the key this agent pinned');
  let key = pinned;
  for (const link of chain.slice(start)) key = verifyServerKeyEndorsement(link, key);
  return key;
}
