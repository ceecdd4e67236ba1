/**
 * The agent's pairing with a Candor server: one server per agent, one or more studies with it.
 * `pair` redeems a code and keeps what the server answered only once every check has passed;
 * `countersign` sends a signed consent receipt and returns the server's copy only when it is
 * the same receipt, countersigned by the pinned server key; `checkStudies` keeps a newer study
 * version only from an answer the pinned server key signed. A signature by a key this agent
 * has not pinned sends it along the server's endorsement chain (shared/src/endorsement.ts):
 * the pin moves to the newest key only if every link from the pinned key on verifies, and the
 * signature is checked again with it. A refusal keeps nothing, and a pairing that did not
 * complete discards the device key it made.
 */
import { canonicalJson } from '@candor/shared/encoding';
import { fromBase64Url, keyIdOf, randomId, toBase64Url, wipe, type SigningKeyPair } from '@candor/shared/crypto';
import { signStudyCheck, studyAnswerVerifies, verifyServerCountersignature } from '@candor/shared/consent';
import { walkServerKeyChain } from '@candor/shared/endorsement';
import { auditCheckpointVerifies } from '@candor/shared/audit-checkpoint';
import { CandorError } from '@candor/shared/errors';
import type { ConsentReceipt } from '@candor/shared/schemas/consent';
import type { PairingResult } from '@candor/shared/schemas/control';
import type { StudyVersion } from '@candor/shared/schemas/study';
import { readPairingRecord, writePairingRecord, PAIRING_SECRET_SLOT, type PairedStudy, type PairingRecord } from './record.ts';
import { keepCheckpoint, type CheckpointVerdict } from './checkpoints.ts';
import { checkServerUrl, fetchAuditCheckpoint, fetchServerKeyChain, fetchStudyVersion, redeemPairingCode, submitConsentReceipt } from './server-api.ts';

/** Where uploads go and the keys that go with it. */
export type UploadTarget = {
  serverUrl: string;
  /** The server's Ed25519 key that signs erasure acknowledgements and consent countersignatures. */
  serverPublicKey: Uint8Array;
  /** Each study's X25519 sealing key; a study without one keeps its windows on the device. */
  studyKeys: ReadonlyMap<string, Uint8Array>;
};

export type PairingOptions = {
  dataDir: string;
  /** A copy of the store's study-scoped device key, made on first use; its secret is wiped here. */
  deviceKey: (slot: string) => SigningKeyPair;
  /** Destroys the study's device key, so a pairing that did not complete leaves none the server may know. */
  discardDeviceKey: (studyId: string) => void;
  /** The study's pseudonym on this device, or a fresh one; kept only once pairing succeeds. */
  pseudonym: (studyId: string) => string;
  keepPseudonym: (studyId: string, pseudonym: string) => void;
  /** Whether this device may pair for the study; asked before the code is sent and again before keeping the answer. @throws CandorError */
  assertMayPair: (studyId: string) => void;
  now: () => number;
};

export type Pairing = {
  /** The studies this agent is paired for, as the server offered them. */
  studies(): StudyVersion[];
  /** The pairing of one study, or undefined for a study read from a file. */
  study(studyId: string): PairedStudy | undefined;
  /** Where uploads go, or null before the agent is paired. */
  uploadTarget(): UploadTarget | null;
  /**
   * Redeems `code` at `serverUrl` for `studyId` and keeps the answer.
   * `serverKeyId`, when given, pins the server's signing key instead of trusting the first answer.
   * @throws CandorError `pair.bad-url`, `pair.insecure-url`, `pair.other-server`,
   * `pair.already-paired`, `pair.wrong-study`, `pair.server-key-mismatch`, `pair.server-key-changed`, and
   * redeemPairingCode's `pair.*` / `server.*` errors; after any of them nothing was kept.
   */
  pair(request: { serverUrl: string; studyId: string; code: string; serverKeyId?: string | undefined }): Promise<PairingResult>;
  /**
   * Has the server countersign `receipt` for a paired study; resolves with the checked copy.
   * @throws CandorError `consent.not-paired`, `consent.bad-countersignature`,
   * submitConsentReceipt's errors, and for a countersignature by a key not pinned,
   * fetchServerKeyChain's errors and EndorsementError `server-key.not-endorsed`,
   * `server-key.chain-broken`, `server-key.chain-fork`, `server-key.bad-endorsement` (the pin is
   * unchanged then), `pairing.write-failed`.
   */
  countersign(studyId: string, receipt: ConsentReceipt): Promise<ConsentReceipt>;
  /**
   * Asks the server which version of each paired study it offers now, signed with the
   * study's device key, and keeps a newer version (and a new sealing key) only from an answer
   * to this request signed by the pinned server key. `skip` names studies not to ask about
   * (withdrawn: their device key is gone). Resolves with the studies whose version changed.
   * @throws CandorError the server-api errors, `server.protocol` for an answer that does not
   * verify or offers an older version, `pairing.write-failed`, and the chain walk's errors as
   * countersign; nothing is kept then.
   */
  checkStudies(skip: (studyId: string) => boolean): Promise<string[]>;
  /**
   * Fetches the server's signed audit checkpoint, follows the endorsement chain when it names a
   * key other than the pinned one (as any signed answer would; erasure acknowledgements, checked
   * outside this module, need it), checks its signature and keeps it (./checkpoints.ts).
   * Resolves with whether the pinned key moved and what the checkpoint said beside the newest
   * held, or null before pairing.
   * @throws CandorError as fetchAuditCheckpoint, `server.protocol` when the checkpoint is not
   * signed by the key it names, and as the chain walk (see countersign); nothing is kept then.
   */
  checkAuditCheckpoint(): Promise<{ keyMoved: boolean; verdict: CheckpointVerdict } | null>;
};

/** @throws CandorError `pair.server-key-mismatch` or `pair.server-key-changed`. */
function assertExpectedKey(origin: string, keyId: string, given: string | undefined, pinned: PairingRecord | null): void {
  if (given !== undefined && keyId !== given) {
    throw new CandorError('pair.server-key-mismatch', `${origin} signs with key ${keyId}, not the ${given} you were given; nothing was kept. Tell whoever sent you the code`);
  }
  if (pinned && keyId !== pinned.serverKey.keyId) {
    throw new CandorError('pair.server-key-changed', `${origin} signs with a key other than the one this agent pinned when it first paired; nothing was kept`);
  }
}

function withoutCountersignature(receipt: ConsentReceipt): string {
  return canonicalJson({ ...receipt, integrity: { ...receipt.integrity, server: null } });
}

/**
 * Opens the pairing kept in `dataDir` (none yet is fine).
 * @throws CandorError `pairing.unreadable` when the record there cannot be opened.
 */
export function openPairing(options: PairingOptions): Pairing {
  const secret = (): SigningKeyPair => options.deviceKey(PAIRING_SECRET_SLOT);
  let record: PairingRecord | null = readPairingRecord(options.dataDir, secret);

  /**
   * The pinned key, after following the server's endorsements from it when `seenKeyId` (the
   * key a signature names) is another. Keeps the newest key only once the walk succeeded.
   */
  const pinnedKeyFor = async (seenKeyId: string | undefined): Promise<Uint8Array> => {
    const current = record;
    if (!current) throw new CandorError('consent.not-paired', 'this agent is not paired with a server');
    const pinned = { keyId: current.serverKey.keyId, publicKey: fromBase64Url(current.serverKey.publicKey) };
    if (seenKeyId === undefined || seenKeyId === pinned.keyId) return pinned.publicKey;
    const newest = walkServerKeyChain(pinned, await fetchServerKeyChain(current.serverUrl));
    // Nothing new, or the pairing moved while the chain was on its way: keep what is pinned now.
    if (newest.keyId === pinned.keyId || record !== current) return fromBase64Url((record ?? current).serverKey.publicKey);
    const next: PairingRecord = {
      ...current,
      serverKey: { keyId: newest.keyId, publicKey: toBase64Url(newest.publicKey) },
      formerServerKeyIds: [...current.formerServerKeyIds, pinned.keyId],
    };
    writePairingRecord(options.dataDir, secret, next);
    record = next;
    return newest.publicKey;
  };

  return {
    studies: () => record?.studies.map((paired) => paired.study) ?? [],
    study: (studyId) => record?.studies.find((paired) => paired.study.studyId === studyId),
    uploadTarget() {
      if (!record) return null;
      return {
        serverUrl: record.serverUrl,
        serverPublicKey: fromBase64Url(record.serverKey.publicKey),
        studyKeys: new Map(record.studies.map((paired) => [paired.study.studyId, fromBase64Url(paired.aggregatorKey.publicKey)])),
      };
    },
    async pair({ serverUrl, studyId, code, serverKeyId }) {
      const origin = checkServerUrl(serverUrl);
      const before = record;
      if (before && before.serverUrl !== origin) {
        throw new CandorError('pair.other-server', `this agent is paired with ${before.serverUrl}; it uploads to one server only, so it cannot pair with ${origin} too`);
      }
      if (before?.studies.some((paired) => paired.study.studyId === studyId)) {
        throw new CandorError('pair.already-paired', `this agent is already paired for ${studyId} with ${before.serverUrl}; nothing was changed and the code was not used`);
      }
      options.assertMayPair(studyId);
      // Before the code or the device key is used: the server answers over trusted TLS, with the expected key.
      const announcedKeyId = (await fetchAuditCheckpoint(origin)).checkpoint.serverKeyId;
      assertExpectedKey(origin, announcedKeyId, serverKeyId, null);
      // A server that rotated its key since this agent paired: follow its endorsements from the
      // pinned key (as any check would; the pin moves only along a chain that verifies).
      if (before && announcedKeyId !== before.serverKey.keyId) await pinnedKeyFor(announcedKeyId);
      assertExpectedKey(origin, announcedKeyId, serverKeyId, record);
      const device = options.deviceKey(studyId);
      wipe(device.secretKey);
      // Made for this attempt (or left by an older agent): until the pairing completes, the
      // server may have registered it (it accepted the code and the answer was then refused, or
      // the answer was lost), and a key it knows makes every later code fail with pair.device-known.
      try {
        const pseudonym = options.pseudonym(studyId);
        const answer = await redeemPairingCode(origin, { code, studyId, devicePublicKey: toBase64Url(device.publicKey), pseudonym });
        if (answer.deviceKeyId !== device.keyId) {
          throw new CandorError('server.protocol', `${origin} answered the pairing for another device key; nothing was kept`);
        }
        if (answer.studyId !== studyId || answer.study.studyId !== studyId) {
          throw new CandorError('pair.wrong-study', `the code was for study ${answer.studyId}, not ${studyId}; nothing was kept on this device. Ask for a code for ${studyId}`);
        }
        // The participant may have withdrawn, or another pairing finished, while this one waited on the network.
        options.assertMayPair(studyId);
        const current = record;
        if (current && (current.serverUrl !== origin || current.studies.some((paired) => paired.study.studyId === studyId))) {
          throw new CandorError('pair.already-paired', `this agent was paired for ${studyId} meanwhile; nothing was changed`);
        }
        assertExpectedKey(origin, answer.serverKey.keyId, serverKeyId, current);
        if (current && current.serverKey.publicKey !== answer.serverKey.publicKey) {
          throw new CandorError('pair.server-key-changed', `${origin} answered with a signing key other than the one this agent pinned when it first paired; nothing was kept`);
        }
        const next: PairingRecord = {
          serverUrl: origin,
          serverKey: current?.serverKey ?? answer.serverKey,
          formerServerKeyIds: current?.formerServerKeyIds ?? [],
          studies: [...(current?.studies ?? []), { study: answer.study, aggregatorKey: answer.aggregatorKey, deviceKeyId: device.keyId, pairedAt: new Date(options.now()).toISOString() }],
        };
        // The pseudonym first: a record naming a study whose pseudonym was lost would sign receipts the server refuses.
        options.keepPseudonym(studyId, pseudonym);
        writePairingRecord(options.dataDir, secret, next);
        record = next;
        return { serverUrl: origin, serverKeyId: next.serverKey.keyId, studyId, version: answer.study.version, title: answer.study.title };
      } catch (error) {
        if (!record?.studies.some((paired) => paired.study.studyId === studyId)) options.discardDeviceKey(studyId);
        throw error;
      }
    },
    async checkStudies(skip) {
      const changed: string[] = [];
      for (const paired of record?.studies ?? []) {
        const studyId = paired.study.studyId;
        if (skip(studyId)) continue;
        const current = record;
        if (!current) break;
        const device = options.deviceKey(studyId);
        const request = { deviceKeyId: device.keyId, studyId, requestedAt: new Date(options.now()).toISOString(), nonce: randomId() };
        const signed = signStudyCheck(request, device);
        wipe(device.secretKey);
        const { answer, signature } = await fetchStudyVersion(current.serverUrl, signed);
        const serverKey = await pinnedKeyFor(answer.serverKeyId);
        const answers =
          answer.nonce === request.nonce &&
          answer.deviceKeyId === request.deviceKeyId &&
          answer.studyId === studyId &&
          answer.study.studyId === studyId &&
          answer.serverKeyId === keyIdOf(serverKey) &&
          studyAnswerVerifies({ answer, signature }, serverKey);
        if (!answers) throw new CandorError('server.protocol', `${current.serverUrl} answered the study check without the pinned server key's signature over this request; nothing was kept`);
        // Versions are immutable: the same number with other content, or an older one, is not the server's study.
        const sameVersion = answer.study.version === paired.study.version;
        if (answer.study.version < paired.study.version || (sameVersion && canonicalJson(answer.study) !== canonicalJson(paired.study))) {
          throw new CandorError('server.protocol', `${current.serverUrl} offers ${studyId} v${String(answer.study.version)}, which contradicts the v${String(paired.study.version)} this agent was given; nothing was kept`);
        }
        if (sameVersion && answer.aggregatorKey.keyId === paired.aggregatorKey.keyId) continue;
        const latest = record ?? current;
        const next: PairingRecord = {
          ...latest,
          studies: latest.studies.map((kept) => (kept.study.studyId === studyId ? { ...kept, study: answer.study, aggregatorKey: answer.aggregatorKey } : kept)),
        };
        writePairingRecord(options.dataDir, secret, next);
        record = next;
        if (!sameVersion) changed.push(studyId);
      }
      return changed;
    },
    async countersign(studyId, receipt) {
      if (!record?.studies.some((paired) => paired.study.studyId === studyId)) {
        throw new CandorError('consent.not-paired', `${studyId} is not paired with a server`);
      }
      const { serverUrl } = record;
      const answer = await submitConsentReceipt(serverUrl, receipt);
      if (withoutCountersignature(answer) !== withoutCountersignature(receipt)) {
        throw new CandorError('consent.bad-countersignature', `${serverUrl} answered with a receipt other than the one sent; nothing was recorded`);
      }
      if (!verifyServerCountersignature(answer, await pinnedKeyFor(answer.integrity.server?.keyId))) {
        throw new CandorError('consent.bad-countersignature', `${serverUrl} did not countersign this receipt with the pinned key or one it endorsed; nothing was recorded`);
      }
      return answer;
    },
    async checkAuditCheckpoint() {
      const current = record;
      if (!current) return null;
      const offered = await fetchAuditCheckpoint(current.serverUrl);
      const key = await pinnedKeyFor(offered.checkpoint.serverKeyId);
      if (keyIdOf(key) !== offered.checkpoint.serverKeyId || !auditCheckpointVerifies(offered, key)) {
        throw new CandorError('server.protocol', `${current.serverUrl} sent an audit checkpoint that the key it names did not sign; nothing was kept`);
      }
      const verdict = keepCheckpoint(options.dataDir, offered, options.now());
      return { keyMoved: record?.serverKey.keyId !== current.serverKey.keyId, verdict };
    },
  };
}
