/**
 * The aggregator: the only process that holds study secret keys. It has no API for people.
 * Each pass it (1) makes sure every approved study has a sealing key, (2) carries out
 * erasure requests, (3) opens new envelopes, checks them against the consented scope and
 * keeps them as participant rows encrypted under per-participant random keys, or quarantines
 * them, and (4) rewrites the cohort results (≥ k participants) the API server may read.
 */
import { decryptRecord, generateDataKey, openEnvelope, recordKeyId, wrapDataKey, encryptRecord, CryptoError, type DataKey } from '@candor/shared/crypto';
import { CandorError, InvariantError } from '@candor/shared/errors';
import { fromUtf8, utf8 } from '@candor/shared/encoding';
import { ConsentReceipt } from '@candor/shared/schemas/consent';
import { SealedEnvelope } from '@candor/shared/schemas/envelope';
import { parseUnknown, ValidationError } from '@candor/shared/validation';
import { openAggregatorStore, studyOfRow, type AggregatorStore, type StoreFiles } from '../db/store.ts';
import { addStudyKey, dropOldMasterKeys, loadOrCreateAggregatorKeys, type AggregatorKeys } from '../keys/files.ts';
import { cohortCells, metricsOfWindows, type Metrics } from './cohorts.ts';
import { consentPeriods } from './consent.ts';
import { consentedBatchSchema } from './scope.ts';

export type PassSummary = { accepted: number; quarantined: number; erased: number; studyKeysPublished: number; rewrapped: number; expired: number };

export type Aggregator = { runOnce: () => PassSummary; close: () => void };

const rowContext = (id: number) => utf8(`candor/participant-row/${id}`);

/** @throws CandorError `db.newer-schema` or `keys.unreadable` at start. */
export function createAggregator(options: { files: StoreFiles; keyFile: string; now?: () => Date; batchSize?: number }): Aggregator {
  const now = options.now ?? (() => new Date());
  const store: AggregatorStore = openAggregatorStore(options.files);
  let keys: AggregatorKeys = loadOrCreateAggregatorKeys(options.keyFile);

  const masterLookup = (keyId: string) => keys.masterKeys.find((key) => key.keyId === keyId)?.key;

  function participantKey(studyId: string, pseudonym: string, create: boolean): DataKey | undefined {
    const held = store.findParticipantKey({ studyId, pseudonym });
    if (held) {
      const key = decryptRecord(held.wrappedKey, masterLookup, utf8(`candor/wrapped-key/${held.keyId}`));
      return { keyId: held.keyId, key };
    }
    if (!create) return undefined;
    const fresh = generateDataKey();
    store.insertParticipantKey({ studyId, pseudonym, keyId: fresh.keyId, wrappedKey: wrapDataKey(keys.currentMaster, fresh) });
    return fresh;
  }

  function recomputeCohorts(studyId: string): void {
    const version = store.api.listApprovedStudyVersions().filter((row) => row.studyId === studyId).at(-1);
    const k = version ? studyOfRow(version).k : Number.POSITIVE_INFINITY;
    const perParticipant = new Map<string, Metrics>();
    const keyCache = new Map<string, DataKey | undefined>();
    for (const row of store.participantRowsOfStudy(studyId)) {
      if (!keyCache.has(row.pseudonym)) keyCache.set(row.pseudonym, participantKey(studyId, row.pseudonym, false));
      const key = keyCache.get(row.pseudonym);
      if (!key) continue;
      const metrics = JSON.parse(fromUtf8(decryptRecord(row.row, (id) => (id === key.keyId ? key.key : undefined), rowContext(row.id)))) as Metrics;
      const sum = perParticipant.get(row.pseudonym) ?? {};
      for (const [metric, value] of Object.entries(metrics)) sum[metric] = (sum[metric] ?? 0) + value;
      perParticipant.set(row.pseudonym, sum);
    }
    const computedAt = now().toISOString();
    store.replaceCohortResults({ studyId, rows: cohortCells(perParticipant, k).map((cell) => ({ studyId, ...cell, computedAt })) });
  }

  /**
   * Publishes, for every study with an approved version, the study key its agents must seal to:
   * the one the key file holds as current, created here when the study has none. A rotation
   * (`candor-server keys rotate --which study`) writes a new current key to the file and retires
   * the old one there, keeping its secret half to open envelopes sealed to it; this pass then
   * makes it the published one. The aggregator is the only writer of its database.
   */
  function publishStudyKeys(): number {
    let published = 0;
    const studies = new Set(store.api.listApprovedStudyVersions().map((row) => row.studyId));
    const fileCurrent = (studyId: string) => [...keys.studyKeys.values()].find((key) => key.studyId === studyId && !key.retired);
    for (const studyId of studies) {
      let current = fileCurrent(studyId);
      if (!current) {
        addStudyKey(options.keyFile, studyId, now());
        keys = loadOrCreateAggregatorKeys(options.keyFile);
        current = fileCurrent(studyId);
        if (!current) throw new InvariantError(`the new key of ${studyId} is not in the key file`);
      }
      if (store.currentStudyKey(studyId)?.keyId === current.keyId) continue;
      const { keyId, publicKey } = current;
      store.transaction(() => {
        store.retireStudyKeys(studyId);
        store.insertStudyKey({ keyId, studyId, publicKey, createdAt: now().toISOString() });
      });
      published += 1;
    }
    return published;
  }

  function carryOutErasures(): number {
    let erased = 0;
    for (const request of store.api.listErasureRequests()) {
      if (store.isErased(request.requestId) !== undefined) continue;
      store.transaction(() => {
        store.deleteParticipant({ studyId: request.studyId, pseudonym: request.pseudonym });
        recomputeCohorts(request.studyId);
        store.insertErasure({ requestId: request.requestId, erasedAt: now().toISOString() });
      });
      erased += 1;
    }
    if (erased > 0) store.compact();
    return erased;
  }

  /** Opens and checks one envelope; returns quarantine reasons, or undefined when accepted. `receipts` caches each device's parsed receipts for one pass. */
  function admitEnvelope(text: string, receipts: Map<string, ConsentReceipt[]>): { studyId: string; reasons?: string[] } {
    const envelope = parseUnknown(SealedEnvelope, JSON.parse(text) as unknown, 'stored envelope');
    const { header } = envelope;
    const device = store.api.findDevice(header.senderKeyId);
    const studyKey = keys.studyKeys.get(header.recipientKeyId);
    const versionRow = store.api.findStudyVersion({ studyId: header.studyId, version: header.studyVersion });
    if (!device || !studyKey || studyKey.studyId !== header.studyId || !versionRow || store.api.hasErasureRequest(device.keyId)) {
      return { studyId: header.studyId, reasons: ['envelope has no current device, study key or study version'] };
    }
    let payload: Uint8Array;
    try {
      payload = openEnvelope(envelope, device.publicKey, studyKey);
    } catch (error) {
      if (error instanceof CryptoError) return { studyId: header.studyId, reasons: [error.code] };
      throw error;
    }
    const study = studyOfRow(versionRow);
    let chain = receipts.get(device.keyId);
    if (!chain) {
      chain = store.api.consentReceiptsOfDevice(device.keyId).map((receipt) => parseUnknown(ConsentReceipt, JSON.parse(receipt) as unknown, 'stored receipt'));
      receipts.set(device.keyId, chain);
    }
    const periods = consentPeriods(chain, header.studyId, header.studyVersion);
    let batch;
    try {
      batch = parseUnknown(consentedBatchSchema(study, header, periods), JSON.parse(fromUtf8(payload)) as unknown, 'batch');
    } catch (error) {
      if (error instanceof ValidationError) return { studyId: header.studyId, reasons: error.issues.map((issue) => `${issue.path}: ${issue.message}`).slice(0, 50) };
      if (error instanceof SyntaxError || error instanceof CandorError) return { studyId: header.studyId, reasons: ['payload is not JSON'] };
      throw error;
    }
    const key = participantKey(header.studyId, device.pseudonym, true);
    if (!key) throw new CandorError('aggregate.no-key', 'participant key could not be created');
    const id = store.insertParticipantRowPlaceholder({ studyId: header.studyId, pseudonym: device.pseudonym, batchId: header.batchId, receivedAt: now().toISOString() });
    store.setParticipantRow({ id, row: encryptRecord(key, utf8(JSON.stringify(metricsOfWindows(batch.windows))), rowContext(id)) });
    return { studyId: header.studyId };
  }

  function processEnvelopes(): { accepted: number; quarantined: number } {
    let accepted = 0;
    let quarantined = 0;
    const touched = new Set<string>();
    const receipts = new Map<string, ConsentReceipt[]>();
    for (const row of store.api.envelopesAfter({ seq: store.lastProcessedSeq(), limit: options.batchSize ?? 500 })) {
      store.transaction(() => {
        if (store.isBatchProcessed(row.batchId)) return;
        let outcome: { studyId: string; reasons?: string[] };
        try {
          outcome = admitEnvelope(row.envelope, receipts);
        } catch (error) {
          // A stored envelope that cannot be handled is set aside for reviewers, never retried forever.
          if (!(error instanceof CandorError)) throw error;
          outcome = { studyId: row.studyId, reasons: [error.code] };
        }
        if (outcome.reasons) {
          store.insertQuarantine({ batchId: row.batchId, studyId: outcome.studyId, reasons: outcome.reasons, at: now().toISOString() });
          store.markProcessed({ seq: row.seq, batchId: row.batchId, outcome: 'quarantined' });
          quarantined += 1;
        } else {
          store.markProcessed({ seq: row.seq, batchId: row.batchId, outcome: 'accepted' });
          touched.add(outcome.studyId);
          accepted += 1;
        }
      });
    }
    for (const studyId of touched) store.transaction(() => { recomputeCohorts(studyId); });
    return { accepted, quarantined };
  }

  /** Participant rows live at most the study's retentionDays (CONSENT.md); cohorts are recomputed without the expired ones. */
  function expireOldRows(): number {
    let expired = 0;
    for (const version of latestVersionPerStudy()) {
      const study = studyOfRow(version);
      const before = new Date(now().getTime() - study.retentionDays * 86_400_000).toISOString();
      store.transaction(() => {
        const deleted = store.deleteRowsReceivedBefore({ studyId: study.studyId, before });
        if (deleted > 0) recomputeCohorts(study.studyId);
        expired += deleted;
      });
    }
    if (expired > 0) store.compact();
    return expired;
  }

  function latestVersionPerStudy() {
    const latest = new Map<string, ReturnType<typeof store.api.listApprovedStudyVersions>[number]>();
    for (const version of store.api.listApprovedStudyVersions()) latest.set(version.studyId, version);
    return [...latest.values()];
  }

  /** After a master-key rotation: re-wrap every participant key under the newest master, then forget the old ones. */
  function rewrapParticipantKeys(): number {
    if (keys.masterKeys.length === 1) return 0;
    let rewrapped = 0;
    store.transaction(() => {
      for (const held of store.allParticipantKeys()) {
        if (recordKeyId(held.wrappedKey) === keys.currentMaster.keyId) continue;
        const key = decryptRecord(held.wrappedKey, masterLookup, utf8(`candor/wrapped-key/${held.keyId}`));
        store.replaceParticipantKeyWrapping({ keyId: held.keyId, wrappedKey: wrapDataKey(keys.currentMaster, { keyId: held.keyId, key }) });
        rewrapped += 1;
      }
    });
    store.compact();
    dropOldMasterKeys(options.keyFile, keys.currentMaster.keyId);
    keys = loadOrCreateAggregatorKeys(options.keyFile);
    return rewrapped;
  }

  return {
    runOnce: () => {
      // Key rotations are made by `candor-server keys rotate` in another process: re-read the file each pass.
      keys = loadOrCreateAggregatorKeys(options.keyFile);
      const studyKeysPublished = publishStudyKeys();
      const rewrapped = rewrapParticipantKeys();
      const erased = carryOutErasures();
      const { accepted, quarantined } = processEnvelopes();
      const expired = expireOldRows();
      return { accepted, quarantined, erased, studyKeysPublished, rewrapped, expired };
    },
    close: () => {
      store.close();
    },
  };
}
