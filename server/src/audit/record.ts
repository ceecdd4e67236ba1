/** Writing audit entries: in the same transaction as the action or read they record. */
import type { ApiStore } from '../db/store.ts';
import { nextAuditRow, type AuditEntry } from './chain.ts';

/** Appends one entry; call inside `store.transaction` with the work it records. */
export function appendAudit(store: ApiStore, entry: AuditEntry, at: Date): void {
  store.insertAuditRow(nextAuditRow(store.lastAuditRow(), entry, at));
}

/**
 * No entry, no answer: the entry and the read commit together, and if writing the entry
 * fails the read's result is never returned.
 */
export function auditedRead<T>(store: ApiStore, entry: AuditEntry, at: Date, read: () => T): T {
  return store.transaction(() => {
    appendAudit(store, entry, at);
    return read();
  });
}

/** A refused privileged attempt is recorded on its own, then the refusal is thrown. */
export function auditRefusal(store: ApiStore, entry: Omit<AuditEntry, 'outcome'>, at: Date): void {
  store.transaction(() => {
    appendAudit(store, { ...entry, outcome: 'refused' }, at);
  });
}
