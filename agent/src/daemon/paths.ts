/**
 * Where the agent keeps its state and its socket. Data: `--data-dir`, else
 * `$XDG_DATA_HOME/candor`, else `~/.local/share/candor`. Socket: inside an explicit data dir
 * (so each data dir is its own agent), else `$XDG_RUNTIME_DIR/candor/agent.sock`, else in the
 * data dir. Both directories are created 0700.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type AgentPaths = { dataDir: string; socketPath: string };

export function agentPaths(dataDir: string | undefined, env: NodeJS.ProcessEnv = process.env): AgentPaths {
  if (dataDir !== undefined) {
    const dir = resolve(dataDir);
    return { dataDir: dir, socketPath: join(dir, 'agent.sock') };
  }
  const dataHome = env.XDG_DATA_HOME !== undefined && env.XDG_DATA_HOME !== '' ? env.XDG_DATA_HOME : join(homedir(), '.local', 'share');
  const dir = join(dataHome, 'candor');
  const runtime = env.XDG_RUNTIME_DIR;
  return { dataDir: dir, socketPath: runtime !== undefined && runtime !== '' ? join(runtime, 'candor', 'agent.sock') : join(dir, 'agent.sock') };
}

/** The study files shipped with Candor, read until the agent is paired with a server. */
export const SEED_STUDIES_DIR = fileURLToPath(new URL('../../../seeds/studies', import.meta.url));

/** The redaction policies shipped with Candor; a study names one by id, version and hash. */
export const SEED_POLICIES_DIR = fileURLToPath(new URL('../../../seeds/policies', import.meta.url));
