import type { Migration } from '../../sqlite.ts';
import { migration001 } from './001-initial.ts';

export const AGGREGATOR_MIGRATIONS: readonly Migration[] = [migration001];
