/** Pairing a device key with a participant's account, and consent receipts countersigned by the server. */
import { z } from 'zod';
import { canonicalHash, contentHash, fromBase64Url, keyIdOf, randomBytes, toBase64Url } from '@candor/shared/crypto';
import { countersignReceipt, receiptHash, SignedStudyAnswer, SignedStudyCheck, signStudyAnswer, studyCheckVerifies, verifyParticipantSignature } from '@candor/shared/consent';
import { ConsentReceipt, Pseudonym } from '@candor/shared/schemas/consent';
import { canonicalPairingCode, formatPairingCode, PAIRING_CODE_BYTES, PairingCode } from '@candor/shared/schemas/control';
import { ServerKeyChain } from '@candor/shared/endorsement';
import { invariant } from '@candor/shared/errors';
import { personIdOf } from '../../auth/permissions.ts';
import { Base64Url, KeyId, Slug, UtcTimestamp } from '@candor/shared/schemas/primitives';
import { captureScopeOf, StudyVersion } from '@candor/shared/schemas/study';
import { studyOfRow } from '../../db/store.ts';
import { parseUnknown } from '@candor/shared/validation';
import { appendAudit } from '../../audit/record.ts';
import { HttpError, notFound } from '../errors.ts';
import { defineRoute } from '../route.ts';
import { PublicKeyView, StudyParams } from '../schemas.ts';

const PAIRING_CODE_MS = 10 * 60_000;

/** How far a device's clock may be from the server's before its study check is refused as stale. */
const STUDY_CHECK_SKEW_MS = 5 * 60_000;

/** The stored form of a code: only its hash, over the canonical form, so any way of typing it matches. */
function hashPairingCode(canonical: string): string {
  return contentHash(`candor/pairing-code/v2\n${canonical}`);
}

export const DEVICE_ROUTES = [
  defineRoute({
    method: 'POST',
    url: '/api/v1/studies/:studyId/pairing-codes',
    permission: { kind: 'role', anyOf: [{ role: 'participant', scope: 'study' }] },
    schema: { params: StudyParams, response: { 201: z.strictObject({ code: z.string(), expiresAt: UtcTimestamp }) } },
    handler: ({ caller, services, params }) => {
      if (caller.kind !== 'person') throw new HttpError('auth.required', 'sign in first');
      if (services.store.findStudy(params.studyId)?.status !== 'open') throw notFound();
      const code = formatPairingCode(randomBytes(PAIRING_CODE_BYTES));
      const expiresAtMs = services.now().getTime() + PAIRING_CODE_MS;
      const canonical = canonicalPairingCode(code);
      invariant(canonical !== null, 'a generated pairing code is canonical');
      services.store.insertPairingCode({ codeHash: hashPairingCode(canonical), userId: caller.user.id, studyId: params.studyId, expiresAtMs });
      return { status: 201, body: { code, expiresAt: new Date(expiresAtMs).toISOString() } };
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/api/v1/devices/pair',
    permission: { kind: 'public', reason: 'the one-time pairing code authenticates' },
    rateLimit: { max: 10, timeWindowMs: 60_000 },
    schema: {
      /** `studyId`: the study the participant means to join; a code for another is refused, unused. */
      body: z.strictObject({ code: PairingCode, studyId: Slug, devicePublicKey: Base64Url.length(43), pseudonym: Pseudonym }),
      response: {
        201: z.strictObject({
          deviceKeyId: KeyId,
          studyId: Slug,
          study: StudyVersion,
          aggregatorKey: PublicKeyView,
          serverKey: PublicKeyView,
        }),
      },
    },
    handler: ({ services, body }) => {
      const now = services.now();
      const publicKey = fromBase64Url(body.devicePublicKey);
      // A refusal anywhere in here rolls the whole pairing back, the code's use included, so the agent can retry with it.
      const paired = services.store.transaction(() => {
        const canonical = canonicalPairingCode(body.code);
        invariant(canonical !== null, 'the schema admits only pairing codes');
        const code = services.store.takePairingCode(hashPairingCode(canonical));
        if (!code || code.expiresAtMs <= now.getTime()) throw new HttpError('pairing.invalid-code', 'the pairing code is wrong, used or expired');
        // Before anything is registered: a device paired into a study its participant did not name would hold a key nobody keeps.
        if (code.studyId !== body.studyId) throw new HttpError('pairing.wrong-study', `the pairing code is for another study than ${body.studyId}; it was not used`);
        const study = services.store.findStudy(code.studyId);
        const version = study?.currentVersion == null ? undefined : services.store.findStudyVersion({ studyId: code.studyId, version: study.currentVersion });
        const aggregatorKey = services.store.aggregator.available() ? services.store.aggregator.currentStudyKey(code.studyId) : undefined;
        if (!version || !aggregatorKey) throw new HttpError('aggregator.unavailable', 'the study has no sealing key yet; try again shortly');
        const keyId = keyIdOf(publicKey);
        if (services.store.findDevice(keyId)) throw new HttpError('conflict', 'this device key is already paired');
        services.store.insertDevice({ keyId, publicKey, userId: code.userId, studyId: code.studyId, pseudonym: body.pseudonym, pairedAt: now.toISOString() });
        appendAudit(services.store, { actor: code.userId, action: 'device.pair', studyId: code.studyId, target: keyId, reason: 'device paired', outcome: 'done' }, now);
        return { keyId, studyId: code.studyId, version, aggregatorKey };
      });
      const { version, aggregatorKey } = paired;
      const server = services.serverKeys().current;
      return {
        status: 201,
        body: {
          deviceKeyId: paired.keyId,
          studyId: paired.studyId,
          study: studyOfRow(version),
          aggregatorKey: { keyId: aggregatorKey.keyId, publicKey: toBase64Url(aggregatorKey.publicKey) },
          serverKey: { keyId: server.keyId, publicKey: toBase64Url(server.publicKey) },
        },
      };
    },
  }),
  defineRoute({
    method: 'GET',
    url: '/api/v1/server-key/endorsements',
    permission: { kind: 'public', reason: 'public keys each signed by the key before it: agents walk them from the key they pinned' },
    schema: { response: { 200: ServerKeyChain } },
    handler: ({ services }) => ({ status: 200, body: { endorsements: [...services.serverKeys().endorsements] } }),
  }),
  defineRoute({
    method: 'POST',
    url: '/api/v1/consent-receipts',
    permission: { kind: 'device', reason: 'the receipt is signed by a paired device key' },
    bodyLimit: 64 * 1024,
    schema: { body: z.strictObject({ receipt: ConsentReceipt }), response: { 201: z.strictObject({ receipt: ConsentReceipt }) } },
    handler: ({ services, body }) => {
      const receipt = body.receipt;
      const device = services.store.findDevice(receipt.integrity.participant.keyId);
      if (!device || !verifyParticipantSignature(receipt, device.publicKey)) {
        throw new HttpError('consent.invalid', 'the receipt is not signed by a paired device');
      }
      const purpose = receipt.processing[0];
      if (!purpose || receipt.processing.length !== 1) throw new HttpError('consent.invalid', 'one purpose per receipt');
      const scope = purpose.captureScope;
      const study = services.store.findStudy(scope.studyId);
      if (scope.studyId !== device.studyId || !study || receipt.header.principalId !== device.pseudonym) {
        throw new HttpError('consent.invalid', 'the receipt names another study or participant');
      }
      const version = services.store.findStudyVersion({ studyId: scope.studyId, version: scope.studyVersion });
      if (!version || version.state !== 'approved' || study.currentVersion !== version.version) {
        throw new HttpError('consent.invalid', 'consent must be to the study version currently approved');
      }
      const studyVersion = studyOfRow(version);
      if (scope.scopeHash !== canonicalHash(captureScopeOf(studyVersion))) throw new HttpError('consent.invalid', 'the receipt covers another scope');
      const aggregatorKey = services.store.aggregator.available() ? services.store.aggregator.currentStudyKey(scope.studyId) : undefined;
      if (aggregatorKey?.keyId !== receipt.parties.aggregatorKeyId) throw new HttpError('consent.invalid', 'the receipt names another aggregator key');
      // The newest receipt decides; one signed before it (held back and sent later) must not overturn it.
      const latest = services.store.latestConsent({ deviceKeyId: device.keyId, studyId: scope.studyId });
      if (latest && Date.parse(parseUnknown(ConsentReceipt, JSON.parse(latest.receipt) as unknown, 'stored receipt').header.consentTimestamp) > Date.parse(receipt.header.consentTimestamp)) {
        throw new HttpError('consent.invalid', 'the receipt is older than the last one received');
      }
      const countersigned = countersignReceipt(receipt, services.serverKeys().current);
      const now = services.now();
      services.store.transaction(() => {
        // Receipts chain per device: each names the hash of the last one stored for it, so a fork,
        // a replayed receipt or a skipped one cannot slip into the record the participant can audit.
        const head = services.store.latestConsent({ deviceKeyId: device.keyId, studyId: scope.studyId });
        const expected = head ? receiptHash(parseUnknown(ConsentReceipt, JSON.parse(head.receipt) as unknown, 'stored receipt')) : null;
        if (receipt.integrity.previousReceiptHash !== expected) {
          throw new HttpError('consent.chain-broken', 'the receipt does not follow the last receipt this device sent (previousReceiptHash)');
        }
        const stored = services.store.insertConsentReceipt({
          receiptId: receipt.header.receiptId,
          deviceKeyId: device.keyId,
          studyId: scope.studyId,
          studyVersion: scope.studyVersion,
          state: receipt.event.state,
          validUntilMs: receipt.event.validUntil === null ? null : Date.parse(receipt.event.validUntil),
          receivedAtMs: now.getTime(),
          receipt: JSON.stringify(countersigned),
        });
        if (!stored) throw new HttpError('conflict', 'this receipt was already received');
        appendAudit(
          services.store,
          { actor: device.keyId, action: `consent.${receipt.event.state}`, studyId: scope.studyId, target: receipt.header.receiptId, reason: 'consent receipt', outcome: 'done' },
          now,
        );
      });
      return { status: 201, body: { receipt: countersigned } };
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/api/v1/devices/study',
    // A read, but only for the device itself: the signature proves which device asks.
    permission: { kind: 'device', reason: 'the request is signed by a paired device key' },
    rateLimit: { max: 30, timeWindowMs: 60_000 },
    bodyLimit: 4 * 1024,
    schema: { body: SignedStudyCheck, response: { 200: SignedStudyAnswer } },
    handler: ({ services, body }) => {
      const now = services.now();
      const { request } = body;
      const device = services.store.findDevice(request.deviceKeyId);
      if (!device || !studyCheckVerifies(body, device.publicKey)) throw new HttpError('auth.forbidden', 'the request is not signed by a paired device');
      if (Math.abs(Date.parse(request.requestedAt) - now.getTime()) > STUDY_CHECK_SKEW_MS) {
        throw new HttpError('auth.forbidden', 'the request is stale or dated in the future; check the device clock');
      }
      if (request.studyId !== device.studyId) throw notFound();
      const study = services.store.findStudy(device.studyId);
      const version = study?.currentVersion == null ? undefined : services.store.findStudyVersion({ studyId: device.studyId, version: study.currentVersion });
      const aggregatorKey = services.store.aggregator.available() ? services.store.aggregator.currentStudyKey(device.studyId) : undefined;
      if (!version || !aggregatorKey) throw new HttpError('aggregator.unavailable', 'the study has no sealing key yet; try again shortly');
      const server = services.serverKeys().current;
      const answer = {
        nonce: request.nonce,
        deviceKeyId: device.keyId,
        studyId: device.studyId,
        study: studyOfRow(version),
        aggregatorKey: { keyId: aggregatorKey.keyId, publicKey: toBase64Url(aggregatorKey.publicKey) },
        serverKeyId: server.keyId,
        answeredAt: now.toISOString(),
      };
      return { status: 200, body: signStudyAnswer(answer, server) };
    },
  }),
  defineRoute({
    method: 'GET',
    url: '/api/v1/me/participation',
    // What the API server holds about the caller as a participant; their data itself is sealed to the aggregator.
    permission: { kind: 'role', anyOf: [{ role: 'participant', scope: 'anywhere' }] },
    schema: {
      response: {
        200: z.strictObject({
          devices: z.array(
            z.strictObject({
              deviceKeyId: KeyId,
              studyId: Slug,
              pairedAt: UtcTimestamp,
              batchesHeld: z.int().min(0),
              withdrawn: z.boolean(),
              receipts: z.array(ConsentReceipt),
            }),
          ),
        }),
      },
    },
    handler: ({ caller, services }) => {
      const store = services.store;
      const devices = store.devicesOfUser(personIdOf(caller)).map((device) => ({
        deviceKeyId: device.keyId,
        studyId: device.studyId,
        pairedAt: device.pairedAt,
        batchesHeld: store.countEnvelopesOfDevice(device.keyId),
        withdrawn: store.hasErasureRequest(device.keyId),
        receipts: store.consentReceiptsOfDevice(device.keyId).map((text) => parseUnknown(ConsentReceipt, JSON.parse(text) as unknown, 'stored receipt')),
      }));
      return { status: 200, body: { devices } };
    },
  }),
];
