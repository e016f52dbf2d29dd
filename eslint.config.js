// ESLint: the recommended rules of ESLint and typescript-eslint for our TypeScript.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'kafkajs', message: 'Use the seam in src/kafka/client.ts; kafkajs lives in src/kafka/kafkajs/.' },
          ],
        },
      ],
    },
  },
);
