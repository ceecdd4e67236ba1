/** Study lifecycle: draft → in review → approved → open → closed, with immutable versions. */
import { z } from 'zod';
import { canonicalHash, randomId } from '@candor/shared/crypto';
import { captureScopeOf, StudyVersion } from '@candor/shared/schemas/study';
import { personIdOf } from '../../auth/permissions.ts';
import { appendAudit, auditRefusal, auditedRead } from '../../audit/record.ts';
import { studyOfRow, type ApiStore } from '../../db/store.ts';
import { HttpError, notFound } from '../errors.ts';
import { defineRoute } from '../route.ts';
import { Done, Reason, StudyParams, StudyView, VersionParams } from '../schemas.ts';

const RESEARCHER_OF_STUDY = { kind: 'role', anyOf: [{ role: 'researcher', scope: 'study' }] } as const;


export function studyViewOf(store: ApiStore, studyId: string): z.output<typeof StudyView> {
  const study = store.findStudy(studyId);
  if (!study) throw notFound();
  return {
    studyId: study.id,
    status: study.status,
    currentVersion: study.currentVersion,
    versions: store.listStudyVersions(studyId).map((version) => ({
      version: version.version,
      state: version.state,
      scopeHash: version.scopeHash,
      study: studyOfRow(version),
    })),
  };
}

function insertVersion(store: ApiStore, studyId: string, body: StudyVersion, authorId: string, at: Date): void {
  store.insertStudyVersion({
    studyId,
    version: body.version,
    body: JSON.stringify(body),
    scopeHash: canonicalHash(captureScopeOf(body)),
    authorId,
    createdAt: at.toISOString(),
  });
}

function versionOf(store: ApiStore, studyId: string, version: number) {
  const found = store.findStudyVersion({ studyId, version });
  if (!found) throw notFound();
  return found;
}

type StudyRow = NonNullable<ReturnType<ApiStore['findStudy']>>;
type StudyMove = Pick<Parameters<ApiStore['setStudyStatus']>[0], 'status' | 'currentVersion'> & { action: string; target: string | null; reason: string };

/**
 * Moves a study to the status `decide` names, audited, in one transaction: a refusal thrown by
 * `decide` changes nothing. @throws HttpError `not-found`, or whatever `decide` throws.
 */
function moveStudy(store: ApiStore, studyId: string, actor: string, at: Date, decide: (study: StudyRow) => StudyMove): void {
  store.transaction(() => {
    const study = store.findStudy(studyId);
    if (!study) throw notFound();
    const { action, target, reason, ...status } = decide(study);
    store.setStudyStatus({ id: studyId, ...status });
    appendAudit(store, { actor, action, studyId, target, reason, outcome: 'done' }, at);
  });
}

export const STUDY_ROUTES = [
  defineRoute({
    method: 'POST',
    url: '/api/v1/studies',
    permission: { kind: 'role', anyOf: [{ role: 'researcher', scope: 'global' }] },
    schema: { body: StudyVersion, response: { 201: StudyView } },
    handler: ({ caller, services, body }) => {
      const actor = personIdOf(caller);
      if (body.version !== 1) throw new HttpError('study.wrong-state', 'a new study starts at version 1');
      if (services.store.findStudy(body.studyId)) throw new HttpError('conflict', 'a study with that id exists');
      const at = services.now();
      services.store.transaction(() => {
        services.store.insertStudy({ id: body.studyId, createdBy: actor, createdAt: at.toISOString() });
        insertVersion(services.store, body.studyId, body, actor, at);
        services.store.insertGrant({ id: randomId(), userId: actor, role: 'researcher', studyId: body.studyId, grantedBy: null, createdAt: at.toISOString() });
        appendAudit(services.store, { actor, action: 'study.create', studyId: body.studyId, target: 'v1', reason: 'study drafted', outcome: 'done' }, at);
      });
      return { status: 201, body: studyViewOf(services.store, body.studyId) };
    },
  }),
  defineRoute({
    method: 'GET',
    url: '/api/v1/studies/:studyId',
    permission: {
      kind: 'role',
      anyOf: [
        { role: 'researcher', scope: 'study' },
        { role: 'participant', scope: 'study' },
        { role: 'privacy_reviewer', scope: 'global' },
      ],
    },
    schema: { params: StudyParams, response: { 200: StudyView } },
    handler: ({ services, params }) => ({ status: 200, body: studyViewOf(services.store, params.studyId) }),
  }),
  defineRoute({
    method: 'POST',
    url: '/api/v1/studies/:studyId/versions',
    permission: RESEARCHER_OF_STUDY,
    schema: { params: StudyParams, body: StudyVersion, response: { 201: StudyView } },
    handler: ({ caller, services, params, body }) => {
      const actor = personIdOf(caller);
      if (body.studyId !== params.studyId) throw new HttpError('validation', 'studyId: must match the study in the URL');
      const at = services.now();
      services.store.transaction(() => {
        if (!services.store.findStudy(params.studyId)) throw notFound();
        const next = services.store.newestVersionNumber(params.studyId) + 1;
        if (body.version !== next) throw new HttpError('study.wrong-state', `the next version of this study is ${next}`);
        insertVersion(services.store, params.studyId, body, actor, at);
        appendAudit(services.store, { actor, action: 'study.version', studyId: params.studyId, target: `v${next}`, reason: 'new version drafted', outcome: 'done' }, at);
      });
      return { status: 201, body: studyViewOf(services.store, params.studyId) };
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/api/v1/studies/:studyId/versions/:version/submit',
    permission: RESEARCHER_OF_STUDY,
    schema: { params: VersionParams, response: { 200: StudyView } },
    handler: ({ caller, services, params }) => {
      const actor = personIdOf(caller);
      const at = services.now();
      services.store.transaction(() => {
        const version = versionOf(services.store, params.studyId, params.version);
        if (version.state !== 'draft') throw new HttpError('study.wrong-state', 'only a draft can be submitted for review');
        services.store.setVersionState({ studyId: params.studyId, version: params.version, state: 'in_review', reviewedBy: null });
        appendAudit(services.store, { actor, action: 'study.submit', studyId: params.studyId, target: `v${params.version}`, reason: 'submitted for review', outcome: 'done' }, at);
      });
      return { status: 200, body: studyViewOf(services.store, params.studyId) };
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/api/v1/studies/:studyId/versions/:version/approve',
    permission: { kind: 'role', anyOf: [{ role: 'privacy_reviewer', scope: 'global' }] },
    schema: { params: VersionParams, body: z.strictObject({ reason: Reason }), response: { 200: StudyView } },
    handler: ({ caller, services, params, body }) => {
      const actor = personIdOf(caller);
      const at = services.now();
      const version = versionOf(services.store, params.studyId, params.version);
      const study = services.store.findStudy(params.studyId);
      if (version.authorId === actor || study?.createdBy === actor) {
        auditRefusal(services.store, { actor, action: 'study.approve', studyId: params.studyId, target: `v${params.version}`, reason: body.reason }, at);
        throw new HttpError('study.own-approval', 'nobody approves a study they wrote');
      }
      services.store.transaction(() => {
        if (version.state !== 'in_review') throw new HttpError('study.wrong-state', 'only a version in review can be approved');
        services.store.setVersionState({ studyId: params.studyId, version: params.version, state: 'approved', reviewedBy: actor });
        // An open study moves to the newly approved version: older consents stop matching, so agents must ask again.
        if (study?.status === 'open') services.store.setStudyStatus({ id: params.studyId, status: 'open', currentVersion: params.version });
        appendAudit(services.store, { actor, action: 'study.approve', studyId: params.studyId, target: `v${params.version}`, reason: body.reason, outcome: 'done' }, at);
      });
      return { status: 200, body: studyViewOf(services.store, params.studyId) };
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/api/v1/studies/:studyId/open',
    permission: RESEARCHER_OF_STUDY,
    schema: { params: StudyParams, response: { 200: StudyView } },
    handler: ({ caller, services, params }) => {
      moveStudy(services.store, params.studyId, personIdOf(caller), services.now(), (study) => {
        if (study.status !== 'draft') throw new HttpError('study.wrong-state', 'only a draft study can be opened');
        const approved = services.store.listStudyVersions(params.studyId).filter((version) => version.state === 'approved').at(-1);
        if (!approved) throw new HttpError('study.wrong-state', 'a study opens only once a version is approved');
        return { status: 'open', currentVersion: approved.version, action: 'study.open', target: `v${approved.version}`, reason: 'opened for enrollment' };
      });
      return { status: 200, body: studyViewOf(services.store, params.studyId) };
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/api/v1/studies/:studyId/close',
    permission: RESEARCHER_OF_STUDY,
    schema: { params: StudyParams, response: { 200: StudyView } },
    handler: ({ caller, services, params }) => {
      moveStudy(services.store, params.studyId, personIdOf(caller), services.now(), (study) => {
        if (study.status !== 'open') throw new HttpError('study.wrong-state', 'only an open study can be closed');
        return { status: 'closed', currentVersion: study.currentVersion, action: 'study.close', target: null, reason: 'closed' };
      });
      return { status: 200, body: studyViewOf(services.store, params.studyId) };
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/api/v1/studies/:studyId/enroll',
    // Enrolling is the participant's own opt-in to an open study; it is what creates their grant for it.
    permission: { kind: 'role', anyOf: [{ role: 'participant', scope: 'anywhere' }] },
    schema: { params: StudyParams, response: { 200: Done } },
    handler: ({ caller, services, params }) => {
      const actor = personIdOf(caller);
      const at = services.now();
      services.store.transaction(() => {
        const study = services.store.findStudy(params.studyId);
        if (study?.status !== 'open') throw notFound();
        services.store.insertGrant({ id: randomId(), userId: actor, role: 'participant', studyId: params.studyId, grantedBy: null, createdAt: at.toISOString() });
        appendAudit(services.store, { actor, action: 'study.enroll', studyId: params.studyId, target: null, reason: 'participant enrolled', outcome: 'done' }, at);
      });
      return { status: 200, body: { ok: true as const } };
    },
  }),
  defineRoute({
    method: 'GET',
    url: '/api/v1/studies/:studyId/quarantine',
    permission: { kind: 'role', anyOf: [{ role: 'privacy_reviewer', scope: 'global' }] },
    schema: {
      params: StudyParams,
      response: { 200: z.strictObject({ entries: z.array(z.strictObject({ batchId: z.string(), reasons: z.array(z.string()), at: z.string() })) }) },
    },
    handler: ({ caller, services, params }) => {
      if (!services.store.findStudy(params.studyId)) throw notFound();
      const entries = auditedRead(
        services.store,
        { actor: personIdOf(caller), action: 'quarantine.read', studyId: params.studyId, target: null, reason: 'review refused envelopes', outcome: 'allowed' },
        services.now(),
        () => (services.store.aggregator.available() ? services.store.aggregator.quarantineOfStudy(params.studyId) : []),
      );
      return { status: 200, body: { entries: entries.map(({ batchId, reasons, at }) => ({ batchId, reasons, at })) } };
    },
  }),
];
