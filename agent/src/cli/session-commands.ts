/** The commands that talk to a running agent through the control API. */
import { createInterface } from 'node:readline/promises';
import { CandorError } from '@candor/shared/errors';
import type { AgentStatus } from '@candor/shared/schemas/control';
import { ControlClient } from '../control/client.ts';
import { agentPaths } from '../daemon/paths.ts';
import type { CommandContext, CliCommand } from './commands.ts';
import { EXIT, describeStatus, describeTransition, printJson } from './output.ts';

/** Connects to the running agent for one use. @throws CandorError `agent.unreachable` when none answers. */
export async function withAgent<T>(context: CommandContext, use: (client: ControlClient) => Promise<T>): Promise<T> {
  const client = await ControlClient.connect({ socketPath: agentPaths(context.dataDir).socketPath });
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

function showStatus(context: CommandContext, status: AgentStatus): number {
  if (context.json) printJson(status);
  else console.log(describeStatus(status));
  return EXIT.ok;
}

const DURATION_OPTION = { for: { type: 'string' } } as const;

export const statusCommand: CliCommand = {
  summary: 'show whether a session is running and whether input is being captured',
  usage: 'status [--json] [--watch]',
  options: { watch: { type: 'boolean' } },
  run: async (context, { values }) => {
    if (values.watch !== true) return showStatus(context, await withAgent(context, (client) => client.call('status', {})));
    const client = await ControlClient.connect({ socketPath: agentPaths(context.dataDir).socketPath, timeoutMs: 10_000 });
    client.onEvent((event) => {
      if (context.json) console.log(JSON.stringify(event));
      else console.log(`\n${event.at}\n${describeStatus(event.status)}`);
    });
    await client.call('subscribe', {});
    showStatus(context, await client.call('status', {}));
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
    });
    client.close();
    return EXIT.ok;
  },
};

export const studiesCommand: CliCommand = {
  summary: 'list the studies you can join',
  usage: 'studies [--json]',
  run: async (context) => {
    const studies = await withAgent(context, (client) => client.call('studies', {}));
    if (context.json) printJson(studies);
    else if (studies.length === 0) console.log('No studies are offered.');
    else for (const study of studies) console.log(`${study.enrolled ? '*' : ' '} ${study.studyId} v${study.version}  ${study.title}`);
    return EXIT.ok;
  },
};

export const enrollCommand: CliCommand = {
  summary: 'read a study\'s consent notice and consent to it',
  usage: 'enroll STUDY [--yes] [--json]',
  options: { yes: { type: 'boolean' } },
  positionals: ['STUDY'],
  run: async (context, { values, positionals }) => {
    const studyId = positionals[0] ?? '';
    return withAgent(context, async (client) => {
      const notice = await client.call('notice', { studyId });
      if (!context.json) console.log(`${notice.text}\n`);
      if (values.yes !== true) {
        if (!process.stdin.isTTY) {
          throw new CandorError('cli.consent-needed', 'read the notice above, then consent with: candor enroll STUDY --yes');
        }
        const prompt = createInterface({ input: process.stdin, output: process.stdout });
        const answer = await prompt.question('Type "yes" to consent to this study version: ');
        prompt.close();
        if (answer.trim().toLowerCase() !== 'yes') {
          console.log('Not enrolled: nothing was recorded.');
          return EXIT.refused;
        }
      }
      return showStatus(context, await client.call('enroll', { studyId, noticeHash: notice.noticeHash }));
    });
  },
};

export const pairCommand: CliCommand = {
  summary: 'pair this agent with your Candor server for a study, with the one-time code it gave you',
  usage: 'pair --server URL --study STUDY [--server-key=KEYID] [--json] CODE',
  options: { server: { type: 'string' }, study: { type: 'string' }, 'server-key': { type: 'string' } },
  positionals: ['CODE'],
  run: async (context, { values, positionals }) => {
    const serverUrl = values.server;
    const studyId = values.study;
    if (typeof serverUrl !== 'string' || typeof studyId !== 'string') {
      throw new CandorError('cli.usage', 'name the server and the study the code is for: candor pair --server URL --study STUDY CODE');
    }
    const serverKeyId = values['server-key'];
    const request = { serverUrl, studyId, code: positionals[0] ?? '', ...(typeof serverKeyId === 'string' ? { serverKeyId } : {}) };
    const paired = await withAgent(context, (client) => client.call('pair', request));
    if (context.json) {
      printJson(paired);
      return EXIT.ok;
    }
    console.log(
      [
        `Paired with ${paired.serverUrl} for "${paired.title}" (${paired.studyId} v${String(paired.version)}).`,
        `This agent now trusts only the server signing key ${paired.serverKeyId} for consent countersignatures and erasure acknowledgements.`,
        ...(typeof serverKeyId === 'string' ? [] : ['If your organisation published its server key id, check it is the one above.']),
        'Nothing is captured until you consent. Read the notice and decide with:',
        `  candor enroll ${paired.studyId}`,
      ].join('\n'),
    );
    return EXIT.ok;
  },
};

export const startCommand: CliCommand = {
  summary: 'start a capture session (at most the study\'s session length)',
  usage: 'start [--for 45m] [--json]',
  options: DURATION_OPTION,
  run: async (context, { values }) => showStatus(context, await withAgent(context, (client) => client.call('start', typeof values.for === 'string' ? { for: values.for } : {}))),
};

export const pauseCommand: CliCommand = {
  summary: 'pause capture, until you resume or for a while',
  usage: 'pause [--for 20m] [--json]',
  options: DURATION_OPTION,
  run: async (context, { values }) => showStatus(context, await withAgent(context, (client) => client.call('pause', typeof values.for === 'string' ? { for: values.for } : {}))),
};

export const resumeCommand: CliCommand = {
  summary: 'resume a paused session',
  usage: 'resume [--json]',
  run: async (context) => showStatus(context, await withAgent(context, (client) => client.call('resume', {}))),
};

export const stopCommand: CliCommand = {
  summary: 'stop the session (the input hook is removed)',
  usage: 'stop [--json]',
  run: async (context) => showStatus(context, await withAgent(context, (client) => client.call('stop', {}))),
};

export const withdrawCommand: CliCommand = {
  summary: 'withdraw from a study',
  usage: 'withdraw STUDY [--json]',
  positionals: ['STUDY'],
  run: async (context, { positionals }) => showStatus(context, await withAgent(context, (client) => client.call('withdraw', { studyId: positionals[0] ?? '' }))),
};

export const historyCommand: CliCommand = {
  summary: 'show recorded session transitions and their reasons',
  usage: 'history [--limit N] [--json]',
  options: { limit: { type: 'string' } },
  run: async (context, { values }) => {
    const limit = typeof values.limit === 'string' ? Number(values.limit) : undefined;
    if (limit !== undefined && !Number.isInteger(limit)) throw new CandorError('cli.usage', '--limit takes a whole number');
    const transitions = await withAgent(context, (client) => client.call('history', limit === undefined ? {} : { limit }));
    if (context.json) printJson(transitions);
    else if (transitions.length === 0) console.log('No transitions recorded yet.');
    else for (const transition of transitions) console.log(describeTransition(transition));
    return EXIT.ok;
  },
};
