/** `candor daemon`: runs the agent in this terminal until Ctrl+C. */
import { fromBase64Url, KEY_BYTES } from '@candor/shared/crypto';
import { CandorError } from '@candor/shared/errors';
import type { UploadTarget } from '../daemon/collector.ts';
import type { SourceChoice } from '../daemon/daemon.ts';
import type { CliCommand, ParsedArgs } from './commands.ts';
import { EXIT } from './output.ts';

function sourceChoice(text: string | undefined): SourceChoice {
  if (text === undefined || text === 'live') return { kind: 'live' };
  if (text.startsWith('replay:') && text.length > 'replay:'.length) return { kind: 'replay', file: text.slice('replay:'.length) };
  throw new CandorError('cli.usage', '--source is live or replay:FILE');
}

function publicKey(text: string, what: string): Uint8Array {
  let key: Uint8Array | undefined;
  try {
    key = fromBase64Url(text);
  } catch {
    key = undefined;
  }
  if (key?.length !== KEY_BYTES) throw new CandorError('cli.usage', `${what} must be a ${String(KEY_BYTES)}-byte public key in base64url`);
  return key;
}

/**
 * Until `candor pair` fetches them from the server's pairing endpoint, the server's signing key
 * and each study's sealing key are given on the command line.
 */
function uploadTarget(values: ParsedArgs['values']): UploadTarget | undefined {
  const server = values.server;
  const serverKey = values['server-key'];
  const studyKeys = (Array.isArray(values['study-key']) ? values['study-key'] : []).filter((entry) => typeof entry === 'string');
  if (typeof server !== 'string') {
    if (serverKey !== undefined || studyKeys.length > 0) throw new CandorError('cli.usage', '--server-key and --study-key go with --server URL');
    return undefined;
  }
  if (typeof serverKey !== 'string') throw new CandorError('cli.usage', '--server URL needs --server-key KEY (the key that signs erasure acknowledgements)');
  const keys = new Map<string, Uint8Array>();
  for (const entry of studyKeys) {
    const [studyId, key] = entry.split('=', 2);
    if (studyId === undefined || studyId === '' || key === undefined) throw new CandorError('cli.usage', '--study-key is STUDY=KEY');
    keys.set(studyId, publicKey(key, `the key of study ${studyId}`));
  }
  return { serverUrl: server, serverPublicKey: publicKey(serverKey, '--server-key'), studyKeys: keys };
}

export const daemonCommand: CliCommand = {
  summary: 'run the agent (owns the input hook; other commands talk to it)',
  usage: 'daemon [--data-dir D] [--server URL --server-key KEY --study-key STUDY=KEY...] [--source live|replay:FILE] [--studies DIR] [--policies DIR]',
  options: {
    server: { type: 'string' },
    'server-key': { type: 'string' },
    'study-key': { type: 'string', multiple: true },
    source: { type: 'string' },
    studies: { type: 'string' },
    policies: { type: 'string' },
  },
  run: async (context, { values }) => {
    // Everything the agent writes is the user's alone, whatever the shell's umask.
    process.umask(0o077);
    // Loaded here, not at the top: only the daemon may load the native input hook.
    const { startDaemon } = await import('../daemon/daemon.ts');
    const upload = uploadTarget(values);
    const daemon = await startDaemon({
      source: sourceChoice(typeof values.source === 'string' ? values.source : undefined),
      ...(context.dataDir === undefined ? {} : { dataDir: context.dataDir }),
      ...(upload === undefined ? {} : { upload }),
      ...(typeof values.studies === 'string' ? { studiesDir: values.studies } : {}),
      ...(typeof values.policies === 'string' ? { policiesDir: values.policies } : {}),
    }).catch((error: unknown) => {
      if (error instanceof CandorError) throw new CandorError('daemon.failed', `the agent could not start: ${error.message}`);
      throw error;
    });
    console.error(`Candor agent running (${daemon.source.kind} input); control socket ${daemon.socketPath}. Stop it with Ctrl+C.`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await daemon.close();
    // Everything the agent owns is closed and written; exit now rather than wait on the
    // foreground resolver's X connection, which has no close yet and would keep us alive.
    process.exit(EXIT.ok);
  },
};
