/** Reviewing what is held on this device before it leaves: candor pending, delete, forget. */
import { CandorError } from '@candor/shared/errors';
import type { PendingWindow } from '@candor/shared/schemas/control';
import type { CliCommand } from './commands.ts';
import { EXIT, printJson } from './output.ts';
import { withAgent } from './session-commands.ts';

function describePending(window: PendingWindow, now: number): string {
  const when = window.leaving
    ? 'being uploaded now; it can no longer be deleted here (withdrawing erases it on the server)'
    : Date.parse(window.dueAt) <= now
      ? 'may be uploaded at any moment'
      : `will be uploaded after ${window.dueAt.slice(0, 16).replace('T', ' ')} UTC`;
  return `${window.id}  ${window.studyId} v${String(window.studyVersion)}, ${when}\n  ${window.description.split('\n').join('\n  ')}`;
}

export const pendingCommand: CliCommand = {
  summary: 'list what is held on this device, waiting to be uploaded, and what each would send',
  usage: 'pending [--json]',
  run: async (context) => {
    const windows = await withAgent(context, (client) => client.call('pending', {}));
    if (context.json) printJson(windows);
    else if (windows.length === 0) console.log('Nothing is held on this device.');
    else {
      const now = Date.now();
      console.log(`${String(windows.length)} window${windows.length === 1 ? '' : 's'} held on this device. Delete one with: candor delete ID\n`);
      console.log(windows.map((window) => describePending(window, now)).join('\n\n'));
    }
    return EXIT.ok;
  },
};

export const deleteCommand: CliCommand = {
  summary: 'delete one held window for good, before it is uploaded',
  usage: 'delete ID [--json]',
  positionals: ['ID'],
  run: async (context, { positionals }) => {
    const id = positionals[0] ?? '';
    const { outcome } = await withAgent(context, (client) => client.call('delete', { id }));
    if (context.json) printJson({ id, outcome });
    else if (outcome === 'deleted') console.log(`Deleted ${id} for good; it will not be uploaded.`);
    else if (outcome === 'leaving') console.log(`${id} is being uploaded now and can no longer be deleted here; withdrawing from the study erases it on the server.`);
    else console.log(`No window ${id} is held on this device (see candor pending).`);
    return outcome === 'deleted' ? EXIT.ok : EXIT.refused;
  },
};

export const forgetCommand: CliCommand = {
  summary: 'forget everything captured in the last while (e.g. 15m), in memory and on disk',
  usage: 'forget DURATION [--json]',
  positionals: ['DURATION'],
  run: async (context, { positionals }) => {
    const last = positionals[0] ?? '';
    if (last === '') throw new CandorError('cli.usage', 'say how far back to forget, e.g. candor forget 15m');
    const result = await withAgent(context, (client) => client.call('forget', { last }));
    if (context.json) printJson(result);
    else {
      console.log(`Forgot everything captured since ${result.since.slice(0, 19).replace('T', ' ')} UTC: ${String(result.deleted)} stored window${result.deleted === 1 ? '' : 's'} deleted, and what was not yet stored.`);
      if (result.leaving > 0) console.log(`${String(result.leaving)} window${result.leaving === 1 ? ' was' : 's were'} already being uploaded; withdrawing from the study erases them on the server.`);
    }
    return EXIT.ok;
  },
};
