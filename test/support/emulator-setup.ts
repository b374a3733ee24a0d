import { startMoto } from './emulator.ts';

/**
 * Jest global setup of the integration suites: starts moto server unless AWS_ENDPOINT_URL points at an
 * emulator already (LocalStack, or a moto you run yourself). Workers inherit the endpoint through the
 * environment; the teardown stops what this started.
 */
export default async function setup(): Promise<void> {
  if (process.env['AWS_ENDPOINT_URL']) {
    process.env['CLOUDCARD_TEST_EMULATOR'] = process.env['AWS_ENDPOINT_URL'];
    process.env['CLOUDCARD_TEST_EMULATOR_KIND'] = 'external';
    return;
  }
  // Each project that uses the emulator runs this setup; they share the first server.
  if ((globalThis as { __moto?: unknown }).__moto) return;
  const moto = await startMoto();
  (globalThis as { __moto?: typeof moto }).__moto = moto;
  process.env['CLOUDCARD_TEST_EMULATOR'] = moto.endpoint;
  process.env['CLOUDCARD_TEST_EMULATOR_KIND'] = 'moto';
}
