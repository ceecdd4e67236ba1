/**
 * Sealed envelopes are kept only until the aggregator has taken them in: after that the
 * study key could still open them, so the API server empties them and folds its WAL.
 */
import type { ApiStore } from '../db/store.ts';

export function pruneProcessedEnvelopes(store: ApiStore): number {
  if (!store.aggregator.available()) return 0;
  const emptied = store.emptyEnvelopesUpTo(store.aggregator.lastProcessedSeq());
  if (emptied > 0) store.compact();
  return emptied;
}
