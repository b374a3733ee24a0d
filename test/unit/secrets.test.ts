import { afterAll, describe, expect, it } from '@jest/globals';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashSecret, verifySecret } from '../../lambdas/core/crypto/password.ts';
import { KeyFileError, loadOrCreateKeyFile } from '../../lambdas/adapters/local/key-file.ts';

describe('secret hashing', () => {
  it('verifies the right secret only', async () => {
    const hash = await hashSecret('correct horse battery staple');
    expect(hash).toMatch(/^scrypt\$32768\$8\$2\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(await verifySecret('correct horse battery staple', hash)).toBe(true);
    expect(await verifySecret('correct horse battery stapl', hash)).toBe(false);
  });

  it('salts every hash', async () => {
    expect(await hashSecret('same')).not.toBe(await hashSecret('same'));
  });

  it('normalises Unicode so the same password typed differently matches', async () => {
    const hash = await hashSecret('caf\u00e9');
    expect(await verifySecret('cafe\u0301', hash)).toBe(true);
  });

  it.each(['', 'plain', 'scrypt$1$2$3', 'scrypt$NaN$8$1$AA$AA', `scrypt$${2 ** 24}$8$1$AA$AA`, 'bcrypt$x$y$z$a$b'])(
    'never matches a malformed or hostile hash %p',
    async (stored) => {
      expect(await verifySecret('x', stored)).toBe(false);
    },
  );
});

describe('local key file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-keyfile-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is created readable by its owner only, and loads back the same keys', () => {
    const path = join(dir, 'keys.json');
    const created = loadOrCreateKeyFile(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(loadOrCreateKeyFile(path)).toEqual(created);
  });

  it('is refused when others can read it, with the fix in the message', () => {
    const path = join(dir, 'open.json');
    loadOrCreateKeyFile(path);
    chmodSync(path, 0o644);
    expect(() => loadOrCreateKeyFile(path)).toThrow(/chmod 600/);
  });

  it('is refused when it is not a key file', () => {
    const path = join(dir, 'bad.json');
    writeFileSync(path, '{"version":2}', { mode: 0o600 });
    expect(() => loadOrCreateKeyFile(path)).toThrow(KeyFileError);
  });
});
