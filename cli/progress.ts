/** Where progress goes: stderr, so stdout stays the command's result. */
export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): boolean;
}

const FRAMES = ['|', '/', '-', '\\'];

/**
 * Runs a long operation with a spinner and the elapsed seconds on `stream`, only when it is a terminal
 * and the output is not JSON (scripts and logs get no control characters); the line is cleared at the end.
 */
export async function withProgress<T>(
  label: string,
  run: () => Promise<T>,
  options: { json: boolean; stream?: ProgressStream; intervalMs?: number },
): Promise<T> {
  const stream = options.stream ?? process.stderr;
  if (options.json || !stream.isTTY) return run();
  const started = Date.now();
  let frame = 0;
  const draw = (): void => {
    stream.write(`\r${FRAMES[frame++ % FRAMES.length]} ${label} (${Math.floor((Date.now() - started) / 1000)} s)`);
  };
  draw();
  const timer = setInterval(draw, options.intervalMs ?? 250);
  try {
    return await run();
  } finally {
    clearInterval(timer);
    stream.write('\r\x1b[2K');
  }
}
