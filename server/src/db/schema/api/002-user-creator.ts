import type { Migration } from '../../sqlite.ts';

/** Who created each account, so the admin who created one cannot also grant it roles (two people, not one). */
export const migration002: Migration = {
  version: 2,
  name: 'user-creator',
  up: (db) => {
    db.exec('ALTER TABLE users ADD COLUMN created_by TEXT');
  },
};
