/** `candor daemon`: runs the agent in this terminal until Ctrl+C. */
import { CandorError } from '@candor/shared/errors';
import type { SourceChoice } from '../daemon/daemon.ts';
import type { CliCommand } from './commands.ts';
import { EXIT } from './output.ts';

function sourceChoice(text: string | undefined): SourceChoice {
  if (text === undefined || text === 'live') return { kind: 'live' };
  if (text.startsWith('replay:') && text.length > 'replay:'.length) return { kind: 'replay', file: text.slice('replay:'.length) };
  throw new CandorError('cli.usage', '--source is live or replay:FILE');
}

export const daemonCommand: CliCommand = {
  summary: 'run the agent (owns the input hook; other commands talk to it)',
  usage: 'daemon [--data-dir D] [--source live|replay:FILE] [--studies DIR] [--policies DIR]   (uploads go where candor pair says)',
  options: {
    source: { type: 'string' },
    studies: { type: 'string' },
    policies: { type: 'string' },
  },
  run: async (context, { values }) => {
    // Everything the agent writes is the user's alone, whatever the shell's umask.
    process.umask(0o077);
    // Loaded here, not at the top: only the daemon may load the native input hook.
    const { startDaemon } = await import('../daemon/daemon.ts');
    const daemon = await startDaemon({
      source: sourceChoice(typeof values.source === 'string' ? values.source : undefined),
      ...(context.dataDir === undefined ? {} : { dataDir: context.dataDir }),
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
