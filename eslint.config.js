// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules.filter((name) => !name.startsWith('_')), 'node:*'];
const nativeModules = ['better-sqlite3', 'uiohook-napi', 'electron', 'pino'];

/**
 * @param {string[]} groups module names, each also banned with any subpath
 * @param {string} message why, shown to whoever breaks the boundary
 */
const importBan = (groups, message) => ({
  group: groups.flatMap((name) => [name, `${name}/*`]),
  message,
});

/**
 * Module boundaries (STYLE.md "Layout and boundaries"). Exported so that
 * tests/tooling/boundaries.test.ts can prove each one rejects a violation.
 * @type {import('typescript-eslint').ConfigArray}
 */
export const boundaries = [
  {
    files: ['shared/**/*.ts'],
    ignores: ['shared/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            importBan(['@candor/agent', '@candor/server', '@candor/desktop'], 'shared imports no other workspace.'),
            importBan([...nodeBuiltins, ...nativeModules], 'shared must run in a browser renderer too: no Node-only modules.'),
          ],
        },
      ],
    },
  },
  {
    files: ['agent/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [importBan(['@candor/server', '@candor/desktop'], 'the agent never imports the server or the desktop app.')] },
      ],
    },
  },
  {
    files: ['server/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [importBan(['@candor/agent', '@candor/desktop'], 'the server never imports the agent or the desktop app.')] },
      ],
    },
  },
  {
    files: ['desktop/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^@candor/(?!shared/|agent/control-client$)',
              message: 'the desktop app imports only @candor/shared and @candor/agent/control-client.',
            },
            importBan(['better-sqlite3', 'uiohook-napi'], 'the desktop app owns no database and no input hook: it asks the agent.'),
          ],
        },
      ],
    },
  },
  {
    files: ['desktop/src/renderer/**/*.ts', 'desktop/src/preload/**/*.ts', 'desktop/src/common/**/*.ts'],
    ignores: ['desktop/src/preload/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            importBan(['electron'], 'Electron APIs belong in main/ (and contextBridge/ipcRenderer in preload/).'),
            { regex: '^@candor/(?!shared/)', message: 'the renderer reaches the agent only through the preload bridge.' },
          ],
        },
      ],
    },
  },
];

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'coverage/**', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // Explicit projects, not the project service: shared's tests live in a second tsconfig
        // (tsconfig.test.json) so that shared itself compiles with no Node or DOM globals.
        project: ['./tsconfig.json', './*/tsconfig*.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/consistent-type-definitions': ['error', 'type'],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      'no-console': 'error',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { project: false, projectService: false },
      globals: { process: 'readonly', console: 'readonly' },
    },
  },
  {
    // CLIs and tooling print to the terminal on purpose; everything else logs through pino.
    files: ['**/cli/**/*.ts', '**/cli.ts', 'tests/tooling/**', '**/bench/**'],
    rules: { 'no-console': 'off' },
  },
  ...boundaries,
);
