/** Where a server keeps its files: the API database names the directory; each process has its own key file. */
import { dirname, join } from 'node:path';

export type ServerPaths = { apiDb: string; aggregatorDb: string; serverKeyFile: string; aggregatorKeyFile: string };

export function serverPaths(apiDb: string): ServerPaths {
  const dir = dirname(apiDb);
  return {
    apiDb,
    aggregatorDb: join(dir, 'aggregator.db'),
    serverKeyFile: join(dir, 'server-keys.json'),
    aggregatorKeyFile: join(dir, 'aggregator-keys.json'),
  };
}
