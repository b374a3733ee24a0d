import type { RunningEmulator } from './emulator.ts';

/** Stops the moto server the global setup started: SIGTERM, then SIGKILL if it lingers. */
export default async function teardown(): Promise<void> {
  const moto = (globalThis as { __moto?: RunningEmulator }).__moto;
  if (!moto || moto.process.exitCode !== null) return;
  // Each project runs this teardown; the first one stops the shared server.
  (globalThis as { __moto?: RunningEmulator }).__moto = undefined;
  moto.process.stderr?.destroy();
  const exited = new Promise<void>((resolve) => moto.process.once('exit', () => resolve()));
  moto.process.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const lingering = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, 5_000);
  });
  await Promise.race([exited, lingering]);
  clearTimeout(timer);
  if (moto.process.exitCode === null && moto.process.signalCode === null) moto.process.kill('SIGKILL');
}
