import { describe, expect, it } from '@jest/globals';
import { withProgress } from '../../cli/progress.ts';

const stream = (isTTY: boolean) => {
  const written: string[] = [];
  return { written, stream: { isTTY, write: (text: string) => written.push(text) > 0 } };
};

describe('progress on long CLI operations', () => {
  it('draws a spinner with the label on a terminal and clears the line at the end', async () => {
    const { written, stream: tty } = stream(true);
    expect(await withProgress('generating keys', async () => 42, { json: false, stream: tty })).toBe(42);
    expect(written[0]).toMatch(/^\r. generating keys \(\d+ s\)$/);
    expect(written.at(-1)).toBe('\r\x1b[2K');
  });

  it('writes nothing when not a terminal or under --json, and still clears the line when the operation fails', async () => {
    for (const [isTTY, json] of [
      [false, false],
      [true, true],
    ] as const) {
      const { written, stream: s } = stream(isTTY);
      await withProgress('x', async () => 1, { json, stream: s });
      expect(written).toEqual([]);
    }
    const { written, stream: tty } = stream(true);
    await expect(withProgress('x', async () => Promise.reject(new Error('boom')), { json: false, stream: tty })).rejects.toThrow('boom');
    expect(written.at(-1)).toBe('\r\x1b[2K');
  });
});
