// ESLint flat config: the JavaScript and typescript-eslint recommended rules (without type information,
// so a run stays quick). `npm run lint` runs it with Prettier's check; CI runs both through `npm test`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', '.venv/', '.data/', 'cdk.out/', 'dist/', 'agent/dist/', 'coverage/', 'test-artifacts/', 'bench/out/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // A leading underscore marks a value taken apart on purpose (rest siblings, fixed signatures).
      // Flags the first value of a variable reassigned by destructuring or read only in `finally`.
      'no-useless-assignment': 'off',
      // A variable assigned once after a closure that reads it was declared must stay `let`.
      'prefer-const': ['error', { destructuring: 'all', ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  // zod only through core/zod.ts: its tree-shakable API with the English messages configured once.
  {
    files: ['lambdas/**/*.ts'],
    ignores: ['lambdas/core/zod.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: ['zod', 'zod/mini', 'zod/v4'].map((name) => ({ name, message: 'import zod from lambdas/core/zod.ts' })) }],
    },
  },
  // Node entry points written in plain JavaScript.
  { files: ['**/*.js'], languageOptions: { globals: { process: 'readonly' } } },
  // CommonJS modules (lambdas/adapters/node-http.cjs).
  { files: ['**/*.cjs'], languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', process: 'readonly' } } },
  // Tests read arbitrary JSON answers; typing each one would only restate the assertions.
  { files: ['test/**'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
);
