// ESLint: the recommended rules of ESLint and typescript-eslint for our TypeScript.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const kafkajsOnlyBehindTheSeam = {
  name: 'kafkajs',
  message: 'Use the seam in src/kafka/client.ts; kafkajs lives in src/kafka/kafkajs/.',
};
/** The engine's folders under src/ (the rest, service, serving and cli, is the application built on it). */
const ENGINE = ['dsl', 'processor', 'runtime', 'state', 'serdes', 'kafka', 'testing', 'util', 'query'];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.stack/', '.tap/', 'stack/maven/', 'bench/.tools/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // The Kafka client seam (src/kafka/client.ts): only its implementations import a client library.
    files: ['src/**/*.ts'],
    ignores: ['src/kafka/kafkajs/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [kafkajsOnlyBehindTheSeam] }] },
  },
  {
    // The engine (the library, src/index.ts) never depends on the service built on it, nor on its topologies.
    files: ENGINE.map((dir) => `src/${dir}/**/*.ts`).concat('src/index.ts'),
    ignores: ['src/kafka/kafkajs/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [kafkajsOnlyBehindTheSeam],
          patterns: [
            {
              group: ['**/service/*', '**/serving/*', '**/cli/*', '**/topology/*', '**/examples/*'],
              message: 'The engine must not import the service, its CLI or application topologies.',
            },
          ],
        },
      ],
    },
  },
);
