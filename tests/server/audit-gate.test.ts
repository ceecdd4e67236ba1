/**
 * No audit entry, no answer (SECURITY.md, "Server"): when the audit log cannot be written,
 * a read of study data returns nothing and a release is not made — and the server keeps
 * serving once the log is writable again.
 */
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorld, type Session, type World } from './world.ts';

let world: World;
let researcher: Session;
let reviewer: Session;

beforeAll(async () => {
  world = await createWorld();
  researcher = await world.signIn(world.person('alice', [{ role: 'researcher', studyId: null }]));
  reviewer = await world.signIn(world.person('rev', [{ role: 'privacy_reviewer', studyId: null }]));
  await world.openStudy('study-a', researcher, reviewer);
  expect((await world.as(researcher, 'POST', '/api/v1/studies/study-a/releases', { reason: 'first look' })).statusCode).toBe(201);
});
afterAll(async () => {
  await world.close();
});

/** Makes every audit insert fail, from a second connection, as a full disk or a locked log would. */
function breakAuditLog(): () => void {
  const db = new Database(world.files.apiDb);
  db.exec("CREATE TRIGGER audit_log_unwritable BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END;");
  return () => {
    db.exec('DROP TRIGGER audit_log_unwritable');
    db.close();
  };
}

describe('when the audit log cannot be written', () => {
  it('returns no study data and makes no release, then serves again once the log is back', async () => {
    const readable = await world.as(researcher, 'GET', '/api/v1/studies/study-a/releases');
    expect(readable.statusCode).toBe(200);
    const auditRows = world.store.allAuditRows().length;

    const repair = breakAuditLog();
    try {
      const read = await world.as(researcher, 'GET', '/api/v1/studies/study-a/releases');
      expect(read.statusCode).toBeGreaterThanOrEqual(500);
      expect(read.body).not.toContain('noisyTotal');
      expect(read.body).not.toContain('first look');
      expect(read.body).not.toMatch(/at .+\.ts:\d+/);

      const release = await world.as(researcher, 'POST', '/api/v1/studies/study-a/releases', { reason: 'second look' });
      expect(release.statusCode).toBeGreaterThanOrEqual(500);
      expect(release.body).not.toContain('noisyTotal');

      const auditLog = await world.as(reviewer, 'GET', '/api/v1/audit');
      expect(auditLog.statusCode).toBeGreaterThanOrEqual(500);
      expect(world.store.allAuditRows().length).toBe(auditRows);
    } finally {
      repair();
    }

    const again = await world.as(researcher, 'GET', '/api/v1/studies/study-a/releases');
    expect(again.statusCode).toBe(200);
    expect(again.body).toBe(readable.body);
    expect(world.store.allAuditRows().length).toBe(auditRows + 1);
  });
});
