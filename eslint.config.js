// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The simulation core must stay pure and deterministic: no transport, log, observability, file system or network.
// Ports (small interfaces in core) are how those are plugged in.
const coreForbidden = [
  { group: ['**/transport/**', '**/transport', '**/log/**', '**/log', '**/obs/**', '**/obs', '**/cli/**'], message: 'server/core must not import transport, log, obs or cli: take a port (interface) as input instead.' },
  { group: ['node:fs', 'fs', 'node:fs/*', 'fs/*', 'node:net', 'net', 'node:http', 'http', 'node:https', 'https', 'node:dgram', 'dgram', 'node:tls', 'tls', 'node:child_process', 'child_process', 'node:worker_threads', 'worker_threads'], message: 'server/core must not touch the file system, network or processes.' },
  { group: ['uWebSockets.js', 'ws', 'pino', 'pino-*', 'prom-client'], message: 'server/core must not depend on transport or observability libraries.' },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'bench/results/**', 'adapters/unity/**', 'proto/gen/**', 'scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', performance: 'readonly', URL: 'readonly', queueMicrotask: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['server/core/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: coreForbidden }] },
  },
);
