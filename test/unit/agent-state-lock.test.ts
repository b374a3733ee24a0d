import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withStateLock } from '../../agent/state.ts';

/** The agent's state lock: one PRT rotation at a time across the agent's processes (agent/state.ts). */
describe('withStateLock', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-agent-lock-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs holders one after the other, never two at once, and releases the lock', async () => {
    let inside = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        withStateLock(dir, async () => {
          inside++;
          most = Math.max(most, inside);
          await new Promise((resolve) => setImmediate(resolve));
          order.push(i);
          inside--;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(order.sort()).toEqual([0, 1, 2, 3, 4]);
    expect(existsSync(join(dir, 'state.lock'))).toBe(false);
  });

  it('releases the lock when the operation fails', async () => {
    await expect(withStateLock(dir, async () => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    expect(existsSync(join(dir, 'state.lock'))).toBe(false);
  });

  it('breaks a lock a dead process left (older than 30 s)', async () => {
    const lock = join(dir, 'state.lock');
    writeFileSync(lock, '');
    const past = new Date(Date.now() - 60_000);
    utimesSync(lock, past, past);
    expect(await withStateLock(dir, async () => 'ran')).toBe('ran');
  });
});
