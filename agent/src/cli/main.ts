/**
 * The `candor` CLI. Dispatches through the command table; turns expected failures into one
 * line on stderr and an exit code (docs/agent.md), never a stack trace.
 */
import { parseArgs } from 'node:util';
import { CandorError } from '@candor/shared/errors';
import { COMMANDS, type CliCommand } from './commands.ts';
import { EXIT } from './output.ts';

const GLOBAL_OPTIONS = {
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  return [
    'Usage: candor COMMAND [options]   (every command takes --data-dir D and --json)',
    '',
    ...Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`),
    '',
    'candor COMMAND --help shows a command\'s options.',
  ].join('\n');
}

function exitCodeFor(code: string): number {
  if (code === 'agent.unreachable' || code === 'agent.timeout' || code === 'agent.protocol') return EXIT.unreachable;
  if (code === 'daemon.failed') return EXIT.daemonFailed;
  if (code === 'cli.usage' || code === 'validation' || code === 'duration.zero' || code === 'pair.bad-url' || code === 'pair.insecure-url') return EXIT.usage;
  if (code.startsWith('server.')) return EXIT.server;
  return EXIT.refused;
}

async function runCommand(name: string, command: CliCommand, argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...GLOBAL_OPTIONS, ...command.options }, allowPositionals: true, strict: true });
  } catch (error) {
    console.error(`candor ${name}: ${error instanceof Error ? error.message : 'bad arguments'}\nUsage: candor ${command.usage}`);
    return EXIT.usage;
  }
  if (parsed.values.help === true) {
    console.log(`Usage: candor ${command.usage}\n${command.summary}`);
    return EXIT.ok;
  }
  const expected = command.positionals ?? [];
  if (parsed.positionals.length !== expected.length) {
    console.error(`candor ${name}: expected ${expected.length === 0 ? 'no arguments' : expected.join(' ')}\nUsage: candor ${command.usage}`);
    return EXIT.usage;
  }
  const dataDir = parsed.values['data-dir'];
  const context = { dataDir: typeof dataDir === 'string' ? dataDir : undefined, json: parsed.values.json === true };
  return command.run(context, { values: parsed.values, positionals: parsed.positionals });
}

/** Runs the CLI on `argv` (without node and script); resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    console.log(usage());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    console.error(`candor: unknown command "${name}"\n\n${usage()}`);
    return EXIT.usage;
  }
  try {
    return await runCommand(name, command, rest);
  } catch (error) {
    if (error instanceof CandorError) {
      console.error(`candor ${name}: ${error.message}`);
      return exitCodeFor(error.code);
    }
    console.error(`candor ${name}: internal error (${error instanceof Error ? error.name : 'unknown'}); this is a bug in Candor`);
    return EXIT.internal;
  }
}
