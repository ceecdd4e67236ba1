/**
 * Study data as people see it: differentially private releases of the aggregator's cohort
 * results, the budget ledger, and the audit log. Every read is audited before it returns.
 */
import { z } from 'zod';
import { randomId } from '@candor/shared/crypto';
import type { StudyVersion } from '@candor/shared/schemas/study';
import { personIdOf, studiesWithRole } from '../../auth/permissions.ts';
import { AuditCheckpoint } from '@candor/shared/audit-checkpoint';
import { signCheckpoint } from '../../audit/chain.ts';
import { appendAudit, auditedRead } from '../../audit/record.ts';
import { cellsPerParticipant, releaseCells } from '../../aggregate/cohorts.ts';
import { studyOfRow, type ApiStore } from '../../db/store.ts';
import type { AuditRow } from '../../db/queries/audit.ts';
import { HttpError, notFound } from '../errors.ts';
import { defineRoute } from '../route.ts';
import { AuditEntryView, ParticipantAuditEntryView, Reason, ReleasesView, StudyParams } from '../schemas.ts';


function currentStudyVersion(store: ApiStore, studyId: string): StudyVersion {
  const study = store.findStudy(studyId);
  const version = study?.currentVersion == null ? undefined : store.findStudyVersion({ studyId, version: study.currentVersion });
  if (!version) throw notFound();
  return studyOfRow(version);
}

function releasesOf(store: ApiStore, studyId: string, lifetimeEpsilon: number): z.output<typeof ReleasesView> {
  return {
    epsilonSpent: store.epsilonSpent(studyId),
    lifetimeEpsilon,
    releases: store.listReleases(studyId).map((release) => ({
      id: release.id,
      releasedAt: release.releasedAt,
      epsilon: release.epsilon,
      cells: JSON.parse(release.result) as { metric: string; noisyTotal: number }[],
    })),
  };
}

/** Entries that would show a participant what other participants did (pairing, consent, withdrawal, their own reads). */
const ABOUT_OTHER_PARTICIPANTS = /^(consent\.|device\.|participant\.|study\.enroll$|audit\.read$)/;

const auditView = ({ seq, at, actor, action, studyId, target, reason, outcome, hash }: AuditRow) => ({
  seq,
  at,
  actor,
  action,
  studyId,
  target,
  reason,
  outcome,
  hash,
});

export const DATA_ROUTES = [
  defineRoute({
    method: 'POST',
    url: '/api/v1/studies/:studyId/releases',
    permission: { kind: 'role', anyOf: [{ role: 'researcher', scope: 'study' }] },
    rateLimit: { max: 10, timeWindowMs: 60_000 },
    schema: { params: StudyParams, body: z.strictObject({ reason: Reason }), response: { 201: ReleasesView } },
    handler: ({ caller, services, params, body }) => {
      const study = currentStudyVersion(services.store, params.studyId);
      const { epsilonPerRelease, lifetimeEpsilon } = study.dp;
      const at = services.now();
      const view = services.store.transaction(() => {
        // The ledger never renews: a release that would cross the lifetime budget is refused.
        if (services.store.epsilonSpent(params.studyId) + epsilonPerRelease > lifetimeEpsilon + 1e-9) {
          throw new HttpError('release.budget-exhausted', "this study's privacy budget is spent");
        }
        appendAudit(
          services.store,
          { actor: personIdOf(caller), action: 'data.release', studyId: params.studyId, target: null, reason: body.reason, outcome: 'allowed' },
          at,
        );
        const cohorts = services.store.aggregator.available() ? services.store.aggregator.cohortResultsOfStudy(params.studyId) : [];
        // Noisy threshold and noisy totals, ε split between them and over the cells one participant
        // can be in under any approved version — data can only come from those (docs/server.md).
        const approved = services.store.listStudyVersions(params.studyId).filter((version) => version.state === 'approved').map(studyOfRow);
        const cells = releaseCells(cohorts, study.k, epsilonPerRelease, cellsPerParticipant(approved), services.uniform);
        services.store.insertRelease({ id: randomId(), studyId: params.studyId, epsilon: epsilonPerRelease, releasedAt: at.toISOString(), result: JSON.stringify(cells) });
        return releasesOf(services.store, params.studyId, lifetimeEpsilon);
      });
      return { status: 201, body: view };
    },
  }),
  defineRoute({
    method: 'GET',
    url: '/api/v1/studies/:studyId/releases',
    permission: {
      kind: 'role',
      anyOf: [
        { role: 'researcher', scope: 'study' },
        { role: 'participant', scope: 'study' },
        { role: 'privacy_reviewer', scope: 'global' },
      ],
    },
    rateLimit: { max: 60, timeWindowMs: 60_000 },
    schema: { params: StudyParams, response: { 200: ReleasesView } },
    handler: ({ caller, services, params }) => {
      const study = currentStudyVersion(services.store, params.studyId);
      const view = auditedRead(
        services.store,
        { actor: personIdOf(caller), action: 'data.read', studyId: params.studyId, target: 'releases', reason: 'read released cohort results', outcome: 'allowed' },
        services.now(),
        () => releasesOf(services.store, params.studyId, study.dp.lifetimeEpsilon),
      );
      return { status: 200, body: view };
    },
  }),
  defineRoute({
    method: 'GET',
    url: '/api/v1/audit',
    permission: { kind: 'role', anyOf: [{ role: 'privacy_reviewer', scope: 'global' }] },
    schema: {
      querystring: z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(100) }),
      response: { 200: z.strictObject({ entries: z.array(AuditEntryView) }) },
    },
    handler: ({ caller, services, query }) => {
      const rows = auditedRead(
        services.store,
        { actor: personIdOf(caller), action: 'audit.read', studyId: null, target: null, reason: 'review the audit log', outcome: 'allowed' },
        services.now(),
        () => services.store.recentAuditRows(query.limit),
      );
      return { status: 200, body: { entries: rows.map(auditView) } };
    },
  }),
  defineRoute({
    method: 'GET',
    url: '/api/v1/studies/:studyId/audit',
    permission: { kind: 'role', anyOf: [{ role: 'participant', scope: 'study' }] },
    schema: { params: StudyParams, response: { 200: z.strictObject({ entries: z.array(ParticipantAuditEntryView) }) } },
    handler: ({ caller, services, params }) => {
      const mine = studiesWithRole(caller, 'participant');
      const rows = auditedRead(
        services.store,
        { actor: personIdOf(caller), action: 'audit.read', studyId: params.studyId, target: null, reason: 'participant reads who used their study', outcome: 'allowed' },
        services.now(),
        () => services.store.auditRowsOfStudies({ studyIds: mine.filter((id) => id === params.studyId), limit: 500 }),
      );
      const entries = rows.filter((row) => !ABOUT_OTHER_PARTICIPANTS.test(row.action)).map(({ seq, at, actor, action, studyId, reason, outcome, hash }) => ({ seq, at, actor, action, studyId, reason, outcome, hash }));
      return { status: 200, body: { entries } };
    },
  }),
  defineRoute({
    method: 'GET',
    url: '/api/v1/audit/checkpoint',
    permission: { kind: 'public', reason: "a signed hash of the log's head: agents keep it to detect a rewritten log" },
    schema: { response: { 200: AuditCheckpoint } },
    handler: ({ services }) => ({ status: 200, body: signCheckpoint(services.store.lastAuditRow(), services.serverKeys().current, services.now()) }),
  }),
];
