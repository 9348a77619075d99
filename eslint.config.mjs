import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((name) => `node:${name}`)];

export default tseslint.config(
  { ignores: ['node_modules/', '.keyrotor/', '.keyrotor-test/', '.keyrotor-faults/', '.tools/', 'coverage/', 'dashboard/dist/', 'cli/dist/', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked.map((config) => ({ ...config, files: ['**/*.ts'] })),
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: nodeBuiltins.map((name) => ({ name, message: 'Workflow code is deterministic and bundled: no Node built-ins.' })),
        patterns: [
          { group: ['**/adapters/**', 'pkcs11js', 'pg'], message: 'Workflows orchestrate; I/O belongs in activities.' },
          { group: ['**/activities/**'], allowTypeImports: true, message: 'Import activities with `import type` only.' },
        ],
      }],
    },
  },
  {
    files: ['domain/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ group: ['pkcs11js', 'pg', '@temporalio/*', '**/adapters/**'], message: 'domain/ is pure logic: no HSM, database or Temporal.' }],
      }],
    },
  },
  {
    // The configuration is read in one place (adapters/config-loader.ts, from the table in domain/config-settings.ts).
    // Handing the environment on whole, to a child process or to the PKCS#11 module, is the exception.
    files: ['**/*.ts'],
    ignores: ['adapters/config-loader.ts', 'adapters/pkcs11/provision-node.ts', 'adapters/pkcs11/module-environment.ts', 'test/**', 'bench/**'],
    rules: {
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'read settings through adapters/config-loader.ts (processSetting, loadConfig); declare new ones in domain/config-settings.ts' }],
    },
  },
  {
    // Jest's asymmetric matchers (expect.any, expect.stringContaining) are typed `any`.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off', '@typescript-eslint/no-unsafe-argument': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      globals: { require: 'readonly', module: 'writable', process: 'readonly', __dirname: 'readonly', __filename: 'readonly', Buffer: 'readonly', console: 'readonly' },
    },
  },
);
