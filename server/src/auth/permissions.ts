/**
 * Deny by default: every route declares one of these in its definition. Study scope always
 * comes from the caller's grants, matched against the route's `:studyId`, never from a body.
 */
import type { Role } from '@candor/shared/schemas/primitives';
import type { GrantRow, UserRow } from '../db/queries/people.ts';
import { HttpError } from '../http/errors.ts';

export type RoleScope = 'study' | 'global' | 'anywhere';

export type Permission =
  /** No caller needed: health, sign-in, pairing (the one-time code authenticates). */
  | { kind: 'public'; reason: string }
  /** The body carries a device signature that the handler checks against a paired device key. */
  | { kind: 'device'; reason: string }
  /** Any signed-in person, whatever their roles. */
  | { kind: 'signed-in' }
  /**
   * One of the listed roles: `study` needs a grant for the route's `:studyId`; `global` a grant
   * without a study (reviewers, admins, researchers who may create studies); `anywhere` either.
   */
  | { kind: 'role'; anyOf: readonly { role: Role; scope: RoleScope }[] };

export type Caller =
  | { kind: 'anonymous' }
  | { kind: 'person'; user: UserRow; grants: readonly GrantRow[]; via: 'session' | 'token'; sessionTokenHash: string | null };

export type Decision = 'allow' | 'unauthenticated' | 'forbidden' | 'hidden';

export function holdsRole(caller: Caller, role: Role, scope: RoleScope, studyId: string | undefined): boolean {
  if (caller.kind !== 'person') return false;
  return caller.grants.some((grant) => {
    if (grant.role !== role) return false;
    if (scope === 'anywhere') return true;
    if (scope === 'global') return grant.studyId === null;
    return studyId !== undefined && grant.studyId === studyId;
  });
}

/** `hidden` answers 404 like a missing object: the caller holds the role, but not for this study. */
export function decide(permission: Permission, caller: Caller, studyId: string | undefined): Decision {
  switch (permission.kind) {
    case 'public':
    case 'device':
      return 'allow';
    case 'signed-in':
      return caller.kind === 'person' ? 'allow' : 'unauthenticated';
    case 'role': {
      if (caller.kind !== 'person') return 'unauthenticated';
      if (permission.anyOf.some(({ role, scope }) => holdsRole(caller, role, scope, studyId))) return 'allow';
      const studyScoped = permission.anyOf.some(({ role, scope }) => scope === 'study' && holdsRole(caller, role, 'anywhere', undefined));
      return studyScoped ? 'hidden' : 'forbidden';
    }
  }
}

/** Study ids for which the caller holds `role`. */
export function studiesWithRole(caller: Caller, role: Role): string[] {
  if (caller.kind !== 'person') return [];
  return caller.grants.flatMap((grant) => (grant.role === role && grant.studyId !== null ? [grant.studyId] : []));
}

/** The signed-in caller's user id. @throws HttpError `auth.required` for an anonymous caller (the route's permission should have stopped it). */
export function personIdOf(caller: Caller): string {
  if (caller.kind !== 'person') throw new HttpError('auth.required', 'sign in first');
  return caller.user.id;
}
