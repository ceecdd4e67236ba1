/**
 * The `candor` command table: name → command. Adding a command is one line here plus its
 * module (the redaction, store and upload steps add theirs the same way).
 */
import type { ParseArgsConfig } from 'node:util';
import { daemonCommand } from './daemon-command.ts';
import { explainPolicyCliCommand, redactCliCommand } from '../redact/commands.ts';
import { deleteCommand, forgetCommand, pendingCommand } from './review-commands.ts';
import {
  enrollCommand,
  historyCommand,
  pairCommand,
  pauseCommand,
  resumeCommand,
  startCommand,
  statusCommand,
  stopCommand,
  studiesCommand,
  withdrawCommand,
} from './session-commands.ts';

/** Options every command takes. */
export type CommandContext = { dataDir: string | undefined; json: boolean };

export type ParsedArgs = { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };

export type CliCommand = {
  summary: string;
  usage: string;
  /** This command's own options (node:util parseArgs form). */
  options?: NonNullable<ParseArgsConfig['options']>;
  /** Names of required positional arguments, in order. */
  positionals?: readonly string[];
  /**
   * Returns the exit code. Throws CandorError for expected failures; main turns it into one
   * line and an exit code.
   */
  run(context: CommandContext, args: ParsedArgs): Promise<number>;
};

export const COMMANDS: Readonly<Record<string, CliCommand>> = {
  daemon: daemonCommand,
  status: statusCommand,
  pair: pairCommand,
  studies: studiesCommand,
  enroll: enrollCommand,
  start: startCommand,
  pause: pauseCommand,
  resume: resumeCommand,
  stop: stopCommand,
  withdraw: withdrawCommand,
  history: historyCommand,
  pending: pendingCommand,
  delete: deleteCommand,
  forget: forgetCommand,
  redact: redactCliCommand,
  'explain-policy': explainPolicyCliCommand,
};
