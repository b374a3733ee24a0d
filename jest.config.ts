import type { Config } from 'jest';

// Every suite is TypeScript run as native ES modules; SWC strips the types (no type checking here:
// `npm run typecheck` does that once for the whole tree).
const transform: Config['transform'] = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2023' }, module: { type: 'es6' } }],
};

const project = (name: string, extra: Partial<Config> = {}): Config => ({
  displayName: name,
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform,
  testMatch: [`<rootDir>/test/${name}/**/*.test.ts`],
  setupFiles: ['<rootDir>/test/support/env.ts'],
  ...extra,
});

const config: Config = {
  projects: [
    project('unit'),
    project('integration', { globalSetup: '<rootDir>/test/support/emulator-setup.ts', globalTeardown: '<rootDir>/test/support/emulator-teardown.ts' }),
    project('infra'),
    project('e2e'),
  ],
  testTimeout: 60_000,
};

export default config;
