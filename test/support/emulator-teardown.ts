import type { RunningEmulator } from './emulator.ts';

export default async function teardown(): Promise<void> {
  const moto = (globalThis as { __moto?: RunningEmulator }).__moto;
  if (!moto) return;
  const exited = new Promise((resolve) => moto.process.once('exit', resolve));
  moto.process.stderr?.destroy();
  moto.process.kill('SIGTERM');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
  if (moto.process.exitCode === null) moto.process.kill('SIGKILL');
}
