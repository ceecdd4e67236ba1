/**
 * The context filter: the first step after the hook. A batch whose foreground application is
 * unknown, sensitive, denied, or outside a study's allowlist is dropped whole, before any
 * other processing sees it.
 */
import type { AppRef } from '@candor/shared/schemas/study';
import type { AppContext } from '../capture/events.ts';
import { sensitiveCategoryOf, type SensitiveCategory } from './sensitive.ts';

export type ContextVerdict =
  | { capture: true; label: string | null }
  | { capture: false; why: 'unresolved' | 'denied' | 'not-allowed' | SensitiveCategory };

export type AppScope = { allow: readonly AppRef[]; deny: readonly AppRef[] };

function find(apps: readonly AppRef[], windowClass: string): AppRef | undefined {
  const lower = windowClass.toLowerCase();
  return apps.find((app) => app.match.toLowerCase() === lower);
}

/**
 * An unresolved application is excluded, not guessed: without it neither the built-in
 * sensitive list nor the study's lists can be applied.
 */
export function judgeContext(context: AppContext, scope: AppScope): ContextVerdict {
  const { windowClass, windowTitle } = context;
  if (windowClass === null) return { capture: false, why: 'unresolved' };
  const sensitive = sensitiveCategoryOf(windowClass, windowTitle);
  if (sensitive !== null) return { capture: false, why: sensitive };
  if (find(scope.deny, windowClass)) return { capture: false, why: 'denied' };
  if (scope.allow.length === 0) return { capture: true, label: null };
  const allowed = find(scope.allow, windowClass);
  return allowed ? { capture: true, label: allowed.label } : { capture: false, why: 'not-allowed' };
}
