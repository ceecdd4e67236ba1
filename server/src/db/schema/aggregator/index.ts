import type { Migration } from '../../sqlite.ts';
import { migration001 } from './001-initial.ts';
import { migration002 } from './002-row-received-at.ts';

export const AGGREGATOR_MIGRATIONS: readonly Migration[] = [migration001, migration002];
