import type { Config } from 'jest';

// Every suite is TypeScript run as native ES modules. ts-jest only strips types here (isolated modules,
// no type checking): `npm test` runs `tsc --noEmit` once for the whole tree before Jest starts.
const transform: Config['transform'] = {
  '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.test.json' }],
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

/** Suites that talk to the AWS emulator share one moto server (the setup is idempotent across projects). */
const emulator = { globalSetup: '<rootDir>/test/support/emulator-setup.ts', globalTeardown: '<rootDir>/test/support/emulator-teardown.ts' };

const config: Config = {
  projects: [project('unit'), project('integration', emulator), project('infra'), project('e2e', emulator)],
  testTimeout: 60_000,
};

export default config;
