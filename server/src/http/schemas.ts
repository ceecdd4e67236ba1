/** Request and response shapes of the people-facing API. Strict at every level: an extra key is an error. */
import { z } from 'zod';
import { HashHex, KeyId, RandomId, Role, Slug, UtcTimestamp, Base64Url } from '@candor/shared/schemas/primitives';
import { StudyVersion } from '@candor/shared/schemas/study';

export const Username = z.string().regex(/^[a-z][a-z0-9._-]{1,63}$/, 'expected a lowercase user name');
export const Password = z.string().min(12).max(256);
export const Reason = z.string().min(3).max(500);

export const StudyParams = z.strictObject({ studyId: Slug });
export const VersionParams = z.strictObject({ studyId: Slug, version: z.coerce.number().int().min(1).max(1_000_000) });
export const IdParams = (name: string) => z.strictObject({ [name]: RandomId });

export const Done = z.strictObject({ ok: z.literal(true) });

export const GrantView = z.strictObject({ id: RandomId, role: Role, studyId: Slug.nullable() });
export const Me = z.strictObject({ id: RandomId, username: Username, grants: z.array(GrantView) });
export const SignIn = z.strictObject({ username: Username, password: z.string().min(1).max(256) });
export const SignedIn = z.strictObject({ user: Me, csrfToken: z.string() });

export const StudyVersionView = z.strictObject({
  version: z.int(),
  state: z.enum(['draft', 'in_review', 'approved', 'rejected']),
  scopeHash: HashHex,
  study: StudyVersion,
});
export const StudyView = z.strictObject({
  studyId: Slug,
  status: z.enum(['draft', 'open', 'closed']),
  currentVersion: z.int().nullable(),
  versions: z.array(StudyVersionView),
});

export const PublicKeyView = z.strictObject({ keyId: KeyId, publicKey: Base64Url });

export const AuditEntryView = z.strictObject({
  seq: z.int(),
  at: UtcTimestamp,
  actor: z.string(),
  action: z.string(),
  studyId: Slug.nullable(),
  target: z.string().nullable(),
  reason: z.string(),
  outcome: z.string(),
  hash: HashHex,
});
/** Participants see who did what to their study's data, not other participants' targets. */
export const ParticipantAuditEntryView = AuditEntryView.omit({ target: true });

export const ReleaseView = z.strictObject({
  id: RandomId,
  releasedAt: UtcTimestamp,
  epsilon: z.number(),
  cells: z.array(z.strictObject({ metric: z.string(), noisyTotal: z.number() })),
});
export const ReleasesView = z.strictObject({
  epsilonSpent: z.number(),
  lifetimeEpsilon: z.number(),
  releases: z.array(ReleaseView),
});
