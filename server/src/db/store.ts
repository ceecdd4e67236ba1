/**
 * The data-access interface the rest of the server uses. Each query module is a set of plain
 * functions of (db, args); a store binds them to one open database, so callers never see a
 * SQLite handle and a PostgreSQL store can implement the same types.
 */
import { existsSync } from 'node:fs';
import { StudyVersion } from '@candor/shared/schemas/study';
import { parseUnknown } from '@candor/shared/validation';
import * as people from './queries/people.ts';
import * as studies from './queries/studies.ts';
import * as devices from './queries/devices.ts';
import * as envelopes from './queries/envelopes.ts';
import * as audit from './queries/audit.ts';
import * as aggregator from './queries/aggregator.ts';
import { API_MIGRATIONS } from './schema/api/index.ts';
import { AGGREGATOR_MIGRATIONS } from './schema/aggregator/index.ts';
import { checkpointAndTruncate, durabilityOf, openReadOnlyDatabase, openWritableDatabase, type Durability, type SqliteDatabase } from './sqlite.ts';

/** A stored version's body, parsed again on the way out like anything read back from disk. @throws ValidationError if the row was altered. */
export function studyOfRow(row: { body: string }): StudyVersion {
  return parseUnknown(StudyVersion, JSON.parse(row.body) as unknown, 'stored study version');
}

type AnyQuery = (db: SqliteDatabase, ...args: never[]) => unknown;
export type Bound<Q> = { [K in keyof Q]: Q[K] extends (db: SqliteDatabase, ...args: infer A) => infer R ? (...args: A) => R : never };

function bind<Q extends Record<string, AnyQuery>>(db: () => SqliteDatabase, queries: Q): Bound<Q> {
  return Object.fromEntries(
    Object.entries(queries).map(([name, query]) => [name, (...args: never[]) => query(db(), ...args)]),
  ) as Bound<Q>;
}

const API_QUERIES = { ...people, ...studies, ...devices, ...envelopes, ...audit };
const AGGREGATOR_READS = {
  cohortResultsOfStudy: aggregator.cohortResultsOfStudy,
  quarantineOfStudy: aggregator.quarantineOfStudy,
  currentStudyKey: aggregator.currentStudyKey,
  isErased: aggregator.isErased,
  lastProcessedSeq: aggregator.lastProcessedSeq,
};

export type ApiQueries = Bound<typeof API_QUERIES>;
export type AggregatorReads = Bound<typeof AGGREGATOR_READS>;

export type ApiStore = ApiQueries & {
  /** Runs `work` atomically: every write inside lands, or none does. Audit entries rely on it. */
  transaction: <T>(work: () => T) => T;
  /** What the aggregator publishes (cohort results, quarantine reasons, study public keys, erasures). */
  aggregator: AggregatorReads & { available: () => boolean };
  /** After erasing rows: nothing of them may remain in the WAL. */
  compact: () => void;
  /** How a commit reaches the disk (an acknowledged ingest must outlive a power loss). */
  durability: () => Durability;
  close: () => void;
};

export type StoreFiles = { apiDb: string; aggregatorDb: string };

/** @throws CandorError `db.newer-schema` from the migration runner. */
export function openApiStore(files: StoreFiles): ApiStore {
  const db = openWritableDatabase(files.apiDb, API_MIGRATIONS);
  let aggregatorDb: SqliteDatabase | undefined;
  let aggregatorReady = false;
  const aggregatorHandle = (): SqliteDatabase => {
    aggregatorDb ??= openReadOnlyDatabase(files.aggregatorDb);
    return aggregatorDb;
  };
  return {
    ...bind(() => db, API_QUERIES),
    transaction: <T>(work: () => T): T => db.transaction(work)(),
    aggregator: {
      ...bind(aggregatorHandle, AGGREGATOR_READS),
      // Ready once the aggregator has created its file and finished migrating it (it starts beside
      // us); once ready it stays ready, so the ingest path asks SQLite only until then.
      available: () => {
        aggregatorReady ||= existsSync(files.aggregatorDb) && Number(aggregatorHandle().pragma('user_version', { simple: true })) >= AGGREGATOR_MIGRATIONS.length;
        return aggregatorReady;
      },
    },
    compact: () => {
      checkpointAndTruncate(db);
    },
    durability: () => durabilityOf(db),
    close: () => {
      aggregatorDb?.close();
      db.close();
    },
  };
}

const AGGREGATOR_QUERIES = { ...aggregator };
const API_READS_FOR_AGGREGATOR = {
  envelopesAfter: envelopes.envelopesAfter,
  findDevice: devices.findDevice,
  consentReceiptsOfDevice: devices.consentReceiptsOfDevice,
  findStudyVersion: studies.findStudyVersion,
  listApprovedStudyVersions: studies.listApprovedStudyVersions,
  listErasureRequests: envelopes.listErasureRequests,
  hasErasureRequest: envelopes.hasErasureRequest,
};

export type AggregatorStore = Bound<typeof AGGREGATOR_QUERIES> & {
  transaction: <T>(work: () => T) => T;
  /** What the API server holds that the aggregator needs: sealed envelopes, devices, consent receipts, study versions, erasure requests. */
  api: Bound<typeof API_READS_FOR_AGGREGATOR>;
  compact: () => void;
  close: () => void;
};

/** @throws CandorError `db.newer-schema`; SqliteError when the API database does not exist yet. */
export function openAggregatorStore(files: StoreFiles): AggregatorStore {
  const db = openWritableDatabase(files.aggregatorDb, AGGREGATOR_MIGRATIONS);
  let apiDb: SqliteDatabase | undefined;
  const apiHandle = (): SqliteDatabase => {
    apiDb ??= openReadOnlyDatabase(files.apiDb);
    return apiDb;
  };
  return {
    ...bind(() => db, AGGREGATOR_QUERIES),
    transaction: <T>(work: () => T): T => db.transaction(work)(),
    api: bind(apiHandle, API_READS_FOR_AGGREGATOR),
    compact: () => {
      checkpointAndTruncate(db);
    },
    close: () => {
      apiDb?.close();
      db.close();
    },
  };
}
