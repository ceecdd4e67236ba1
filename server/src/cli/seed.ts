/** The demo organisation `npm start` serves: four people, the seed study approved and open. */
import { readFileSync } from 'node:fs';
import { canonicalHash, randomId, toBase64Url, randomBytes } from '@candor/shared/crypto';
import { captureScopeOf, StudyVersion } from '@candor/shared/schemas/study';
import { parseUnknown } from '@candor/shared/validation';
import type { Role } from '@candor/shared/schemas/primitives';
import { hashPassword } from '../auth/passwords.ts';
import { appendAudit } from '../audit/record.ts';
import type { ApiStore } from '../db/store.ts';

const DEMO_PEOPLE: readonly { username: string; role: Role }[] = [
  { username: 'admin', role: 'admin' },
  { username: 'researcher', role: 'researcher' },
  { username: 'reviewer', role: 'privacy_reviewer' },
  { username: 'participant', role: 'participant' },
];

/** Adds a person with one role; returns their id. Audited as the operator's action. */
export function addPerson(store: ApiStore, args: { username: string; passwordHash: string; role: Role; studyId: string | null; at: Date }): string {
  const id = randomId();
  store.transaction(() => {
    store.insertUser({ id, username: args.username, passwordHash: args.passwordHash, createdAt: args.at.toISOString(), createdBy: 'operator' });
    store.insertGrant({ id: randomId(), userId: id, role: args.role, studyId: args.studyId, grantedBy: 'operator', createdAt: args.at.toISOString() });
    appendAudit(store, { actor: 'operator', action: 'role.grant', studyId: args.studyId, target: `${id}:${args.role}`, reason: 'added from the command line', outcome: 'done' }, args.at);
  });
  return id;
}

/** Seeds the demo once; returns the generated passwords (shown once on the terminal, never stored). */
export async function seedDemo(store: ApiStore, studyFile: URL, at = new Date()): Promise<{ username: string; password: string }[]> {
  if (store.findUserByUsername('admin')) return [];
  const created: { username: string; password: string }[] = [];
  const ids = new Map<string, string>();
  for (const person of DEMO_PEOPLE) {
    const password = toBase64Url(randomBytes(12));
    ids.set(person.username, addPerson(store, { username: person.username, passwordHash: await hashPassword(password), role: person.role, studyId: null, at }));
    created.push({ username: person.username, password });
  }
  const study = parseUnknown(StudyVersion, JSON.parse(readFileSync(studyFile, 'utf8')) as unknown, 'seed study');
  const researcher = ids.get('researcher') ?? 'operator';
  const reviewer = ids.get('reviewer') ?? 'operator';
  store.transaction(() => {
    store.insertStudy({ id: study.studyId, createdBy: researcher, createdAt: at.toISOString() });
    store.insertStudyVersion({
      studyId: study.studyId,
      version: study.version,
      body: JSON.stringify(study),
      scopeHash: canonicalHash(captureScopeOf(study)),
      authorId: researcher,
      createdAt: at.toISOString(),
    });
    store.insertGrant({ id: randomId(), userId: researcher, role: 'researcher', studyId: study.studyId, grantedBy: 'operator', createdAt: at.toISOString() });
    store.setVersionState({ studyId: study.studyId, version: study.version, state: 'approved', reviewedBy: reviewer });
    store.setStudyStatus({ id: study.studyId, status: 'open', currentVersion: study.version });
    appendAudit(store, { actor: reviewer, action: 'study.approve', studyId: study.studyId, target: `v${study.version}`, reason: 'demo seed', outcome: 'done' }, at);
  });
  return created;
}
