/**
 * The module boundaries of STYLE.md are enforced, not just followed today: each rule is fed a
 * violation and must reject it, and the real lint config must apply it to the right folders.
 */
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { boundaries } from '../../eslint.config.js';

const root = new URL('../..', import.meta.url).pathname;

// Only the boundary rules, with a parser that needs no tsconfig, so that probe files which do
// not exist on disk can be linted.
const boundaryLinter = new ESLint({
  cwd: root,
  overrideConfigFile: true,
  overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, ...boundaries] as ESLint.Options['overrideConfig'],
});

async function boundaryErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await boundaryLinter.lintText(code, { filePath });
  return (result?.messages ?? []).map((message) => `${message.ruleId ?? 'parse'}: ${message.message}`);
}

describe('module boundaries', () => {
  it.each([
    ['shared', 'shared/src/probe.ts', "import { readFileSync } from 'node:fs';"],
    ['shared', 'shared/src/probe.ts', "import { readFileSync } from 'fs';"],
    ['shared', 'shared/src/probe.ts', "import Database from 'better-sqlite3';"],
    ['shared', 'shared/src/probe.ts', "import { app } from 'electron';"],
    ['shared', 'shared/src/probe.ts', "import { ControlClient } from '@candor/agent/control-client';"],
    ['shared', 'shared/src/probe.ts', "import '@candor/server';"],
    ['agent', 'agent/src/probe.ts', "import { x } from '@candor/server/src/db/schema';"],
    ['server', 'server/src/probe.ts', "import { x } from '@candor/agent/control-client';"],
    ['desktop', 'desktop/src/main/probe.ts', "import { x } from '@candor/server/src/http';"],
    ['desktop', 'desktop/src/main/probe.ts', "import { x } from '@candor/agent/src/store/db';"],
    ['desktop', 'desktop/src/main/probe.ts', "import Database from 'better-sqlite3';"],
    ['desktop renderer', 'desktop/src/renderer/probe.ts', "import { ipcRenderer } from 'electron';"],
    ['desktop renderer', 'desktop/src/renderer/probe.ts', "import { ControlClient } from '@candor/agent/control-client';"],
  ])('%s rejects %s', async (_, filePath, code) => {
    expect(await boundaryErrors(filePath, code)).toEqual([expect.stringMatching(/^no-restricted-imports: /)]);
  });

  it.each([
    ['shared', 'shared/src/probe.ts', "import { z } from 'zod';"],
    ['agent', 'agent/src/probe.ts', "import { x } from '@candor/shared/crypto';\nimport { readFileSync } from 'node:fs';"],
    ['server', 'server/src/probe.ts', "import { x } from '@candor/shared/crypto';"],
    ['desktop', 'desktop/src/main/probe.ts', "import { ControlClient } from '@candor/agent/control-client';\nimport { app } from 'electron';"],
    ['desktop preload', 'desktop/src/preload/probe.ts', "import { contextBridge } from 'electron';"],
    ['shared tests', 'shared/src/probe.test.ts', "import { readFileSync } from 'node:fs';"],
  ])('%s allows %s', async (_, filePath, code) => {
    expect(await boundaryErrors(filePath, code)).toEqual([]);
  });

  it('are part of the lint config that `npm test` runs, for every workspace', async () => {
    const projectLinter = new ESLint({ cwd: root });
    for (const file of ['shared/src/crypto.ts', 'agent/src/control/client.ts', 'server/src/auth/passwords.ts', 'desktop/src/main/windows.ts']) {
      const config = (await projectLinter.calculateConfigForFile(file)) as { rules: Record<string, unknown> };
      expect(config.rules['no-restricted-imports'], file).toEqual([2, expect.anything()]);
    }
  });
});

describe('shared compiles with no Node or DOM globals', () => {
  const configPath = `${root}shared/tsconfig.json`;
  const config: unknown = ts.readConfigFile(configPath, (path) => ts.sys.readFile(path)).config;
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, `${root}shared`);

  function diagnosticsFor(code: string): string[] {
    const probe = `${root}shared/src/probe.ts`;
    const host = ts.createCompilerHost(options);
    const readFile = host.readFile.bind(host);
    host.readFile = (path) => (path === probe ? code : readFile(path));
    const fileExists = host.fileExists.bind(host);
    host.fileExists = (path) => path === probe || fileExists(path);
    const program = ts.createProgram([probe, `${root}shared/src/globals.d.ts`], options, host);
    return ts.getPreEmitDiagnostics(program).map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
  }

  it.each([
    ['process', 'export const home = process.env.HOME;'],
    ['Buffer', "export const bytes = Buffer.from('x');"],
    ['document', 'export const title = document.title;'],
    ['window', 'export const width = window.innerWidth;'],
  ])('rejects the %s global', (name, code) => {
    expect(diagnosticsFor(code).join('\n')).toMatch(new RegExp(`Cannot find name '${name}'`));
  });

  it('accepts runtime-neutral code', () => {
    expect(diagnosticsFor('export const bytes = new TextEncoder().encode("x");')).toEqual([]);
  });
});
