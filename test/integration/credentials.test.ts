import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Secret, TOTP } from 'otpauth';
import { ConflictError, NotFoundError, ValidationError } from '../../lambdas/core/errors.ts';
import { directoryKeys } from '../../lambdas/core/directory/keys.ts';
import { Tenants } from '../../lambdas/core/directory/tenant.ts';
import { Users } from '../../lambdas/core/directory/user.ts';
import { Credentials } from '../../lambdas/core/portal/credentials.ts';
import { LoginThrottle, loginThrottleKeys } from '../../lambdas/core/portal/login-throttle.ts';
import { TotpEnrolment } from '../../lambdas/core/portal/totp.ts';
import type { Item } from '../../lambdas/ports.ts';
import type { SecurityEvent } from '../../lambdas/core/security-events.ts';
import { BACKENDS, openBackend, testClock, type Backend } from '../support/backends.ts';

const PASSWORD = 'correct horse battery staple';

/** The code an authenticator app shows for this base32 secret at the clock's time (plus some seconds). */
const codeAt = (secretBase32: string, ms: number): string =>
  TOTP.generate({ secret: Secret.fromBase32(secretBase32), algorithm: 'SHA1', digits: 6, period: 30, timestamp: ms });

/** Password sign-in, the login throttle and TOTP, on real stores and real key custody. */
describe.each(BACKENDS)('portal credentials on the %s backend', (name) => {
  const clock = testClock();
  let backend: Backend;
  let tenants: Tenants;
  let users: Users;
  let throttle: LoginThrottle;
  let credentials: Credentials;
  let totp: TotpEnrolment;

  beforeAll(async () => {
    backend = await openBackend(name, clock);
    tenants = new Tenants(backend.directory, clock);
    users = new Users(backend.directory, tenants, clock);
    throttle = new LoginThrottle(backend.state, clock);
    totp = new TotpEnrolment(backend.directory, backend.custody, clock);
    credentials = new Credentials(users, throttle, totp);
    await tenants.create({ id: 'acme', displayName: 'Acme Corp' });
    await tenants.create({ id: 'gone' });
    await users.add('acme', { username: 'carol', password: PASSWORD });
    await users.add('acme', { username: 'nopass' });
    await users.add('acme', { username: 'dave', password: PASSWORD });
    await users.add('gone', { username: 'erin', password: PASSWORD });
    await tenants.update('gone', { status: 'disabled' });
  });
  afterAll(async () => backend.close());

  /** One wrong password, counted like any other. */
  const wrongGuess = (username: string, ip: string) => throttle.attempt('acme', username, ip, 'password', async () => undefined);

  describe('passwords', () => {
    it('sets a password (guarded, versioned) and verifies it', async () => {
      await users.add('acme', { username: 'frank' });
      expect(await users.verifyPassword('acme', 'frank', PASSWORD)).toBeUndefined();
      const updated = await users.setPassword('acme', 'frank', 'a brand new passphrase');
      expect(updated).toMatchObject({ username: 'frank', version: 2 });
      expect(await users.verifyPassword('acme', 'frank', 'a brand new passphrase')).toMatchObject({ username: 'frank', version: 2 });
      expect(await users.verifyPassword('acme', 'frank', PASSWORD)).toBeUndefined();
      // The stored item keeps its version and its user's version equal; the hash is scrypt, never the password.
      const item = await backend.directory.get<Item & { version: number; user: { version: number }; passwordHash: string }>(
        directoryKeys.user('acme', 'frank'),
      );
      expect(item?.version).toBe(2);
      expect(item?.user.version).toBe(2);
      expect(item?.passwordHash).toMatch(/^scrypt\$/);
      expect(JSON.stringify(item)).not.toContain('a brand new passphrase');
      // Later writes of the user still work on the bumped version.
      expect(await users.disable('acme', 'frank')).toMatchObject({ status: 'disabled', version: 3 });
    });

    it('refuses a password outside 12-1024 characters, an unknown user or tenant', async () => {
      await expect(users.setPassword('acme', 'carol', 'short')).rejects.toThrow(ValidationError);
      await expect(users.setPassword('acme', 'carol', 'x'.repeat(1025))).rejects.toThrow(ValidationError);
      await expect(users.setPassword('acme', 'nobody', PASSWORD)).rejects.toThrow(NotFoundError);
      await expect(users.setPassword('nosuch', 'carol', PASSWORD)).rejects.toThrow(/tenant nosuch does not exist/);
      expect(await users.verifyPassword('acme', 'carol', PASSWORD)).toMatchObject({ username: 'carol' });
    });

    it('loses against a concurrent change instead of undoing it', async () => {
      await users.add('acme', { username: 'gina', password: PASSWORD });
      const results = await Promise.allSettled(
        ['first passphrase ok', 'second passphrase ok', 'third passphrase ok'].map((p) => users.setPassword('acme', 'gina', p)),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won.length).toBeGreaterThanOrEqual(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConflictError);
      expect((await users.get('acme', 'gina')).version).toBe(1 + won.length);
    });

    it('returns the user only for an active user of an active tenant with the right password', async () => {
      expect(await users.verifyPassword('acme', 'carol', PASSWORD)).toMatchObject({ tenant: 'acme', username: 'carol', status: 'active' });
      expect(await users.verifyPassword('acme', 'carol', 'wrong password!!')).toBeUndefined();
      expect(await users.verifyPassword('acme', 'nopass', PASSWORD)).toBeUndefined();
      expect(await users.verifyPassword('gone', 'erin', PASSWORD)).toBeUndefined();
      expect(await users.verifyPassword('acme', 'carol', '')).toBeUndefined();
      expect(await users.verifyPassword('acme', 'carol', 'x'.repeat(5000))).toBeUndefined();
    });

    it('refuses a disabled user even with the right password', async () => {
      await users.add('acme', { username: 'hank', password: PASSWORD });
      expect(await users.verifyPassword('acme', 'hank', PASSWORD)).toBeDefined();
      await users.disable('acme', 'hank');
      expect(await users.verifyPassword('acme', 'hank', PASSWORD)).toBeUndefined();
    });

    it('spends a full scrypt hash on unknown users too (no enumeration by timing)', async () => {
      const time = async (run: () => Promise<unknown>): Promise<number> => {
        const started = process.hrtime.bigint();
        await run();
        return Number(process.hrtime.bigint() - started) / 1e6;
      };
      const median = async (run: () => Promise<unknown>): Promise<number> => {
        const samples: number[] = [];
        for (let i = 0; i < 5; i++) samples.push(await time(run));
        return samples.sort((a, b) => a - b)[2]!;
      };
      // An unknown user, a malformed name and a user without a password all come back undefined ...
      expect(await users.verifyPassword('acme', 'nobody-at-all', PASSWORD)).toBeUndefined();
      expect(await users.verifyPassword('acme', 'Not A Valid Name!', PASSWORD)).toBeUndefined();
      expect(await users.verifyPassword('nosuch', 'carol', PASSWORD)).toBeUndefined();
      // ... after as much work as a wrong password for a real user: one scrypt hash (tens of ms), not a
      // bare table read. Generous bounds keep this stable on a busy machine.
      const known = await median(() => users.verifyPassword('acme', 'carol', 'wrong password!!'));
      const unknown = await median(() => users.verifyPassword('acme', 'nobody-at-all', 'wrong password!!'));
      const noPassword = await median(() => users.verifyPassword('acme', 'nopass', 'wrong password!!'));
      expect(unknown).toBeGreaterThan(known * 0.5);
      expect(noPassword).toBeGreaterThan(known * 0.5);
      expect(unknown).toBeLessThan(known * 2);
    });
  });

  describe('sign-in with the login throttle', () => {
    it('signs in, and says nothing more than "invalid" for every kind of failure', async () => {
      expect(await credentials.signIn('acme', 'dave', PASSWORD, '192.0.2.1')).toMatchObject({ outcome: 'ok', user: { username: 'dave' } });
      expect(await credentials.signIn('acme', 'Dave', PASSWORD, '192.0.2.1')).toMatchObject({ outcome: 'ok', user: { username: 'dave' } });
      expect(await credentials.signIn('acme', 'dave', 'not the password', '192.0.2.1')).toEqual({ outcome: 'invalid' });
      expect(await credentials.signIn('acme', 'nobody', PASSWORD, '192.0.2.1')).toEqual({ outcome: 'invalid' });
      expect(await credentials.signIn('acme', 'nopass', PASSWORD, '192.0.2.1')).toEqual({ outcome: 'invalid' });
      // A success forgets the user's failures.
      expect(await credentials.signIn('acme', 'dave', PASSWORD, '192.0.2.1')).toMatchObject({ outcome: 'ok' });
      expect((await throttle.failures('acme', 'dave', '192.0.2.1')).user).toBe(0);
    });

    it('locks a user after 5 failures for 15 minutes, refusing even the right password, until unlocked', async () => {
      await users.add('acme', { username: 'ivan', password: PASSWORD });
      for (let i = 0; i < 5; i++) expect(await credentials.signIn('acme', 'ivan', `wrong password ${i}`, `198.51.100.${i}`)).toEqual({ outcome: 'invalid' });
      const locked = await credentials.signIn('acme', 'ivan', PASSWORD, '198.51.100.99');
      expect(locked).toMatchObject({ outcome: 'locked', reason: 'user' });
      expect((locked as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThan(14 * 60);
      expect((locked as { retryAfterSeconds: number }).retryAfterSeconds).toBeLessThanOrEqual(15 * 60);
      // Refused attempts are not checked and not counted.
      expect((await throttle.failures('acme', 'ivan', '198.51.100.99')).user).toBe(5);
      // Other users are not affected.
      expect(await credentials.signIn('acme', 'carol', PASSWORD, '198.51.100.99')).toMatchObject({ outcome: 'ok' });

      await throttle.clear('acme', 'ivan');
      expect(await throttle.check('acme', 'ivan', '198.51.100.99')).toEqual({ allowed: true });
      expect(await credentials.signIn('acme', 'ivan', PASSWORD, '198.51.100.99')).toMatchObject({ outcome: 'ok' });
    });

    it('lifts a user lock by itself after 15 minutes', async () => {
      await users.add('acme', { username: 'judy', password: PASSWORD });
      for (let i = 0; i < 5; i++) await wrongGuess('judy', `203.0.113.${i}`);
      expect(await throttle.check('acme', 'judy', '203.0.113.200')).toMatchObject({ allowed: false, reason: 'user' });
      clock.advance(10 * 60);
      expect(await throttle.check('acme', 'judy', '203.0.113.200')).toMatchObject({ allowed: false, reason: 'user' });
      clock.advance(5 * 60 + 1);
      expect(await throttle.check('acme', 'judy', '203.0.113.200')).toEqual({ allowed: true });
      expect((await throttle.failures('acme', 'judy', '203.0.113.200')).user).toBe(0);
    });

    it('locks a source address after 20 failures, for any user, and only that address', async () => {
      const ip = '2001:db8::20';
      for (let i = 0; i < 19; i++) expect(await credentials.signIn('acme', `sprayed-${i}`, 'guess guess guess', ip)).toEqual({ outcome: 'invalid' });
      expect(await throttle.check('acme', 'carol', ip)).toEqual({ allowed: true });
      expect(await credentials.signIn('acme', 'sprayed-19', 'guess guess guess', ip)).toEqual({ outcome: 'invalid' });
      const refused = await credentials.signIn('acme', 'carol', PASSWORD, ip);
      expect(refused).toMatchObject({ outcome: 'locked', reason: 'ip' });
      expect(await credentials.signIn('acme', 'carol', PASSWORD, '2001:db8::21')).toMatchObject({ outcome: 'ok' });
      // The same address in another tenant has its own count.
      expect(await throttle.check('gone', 'carol', ip)).toEqual({ allowed: true });
      clock.advance(15 * 60 + 1);
      expect(await throttle.check('acme', 'carol', ip)).toEqual({ allowed: true });
    });

    it('compares exactly 5 of 20 parallel wrong passwords, then refuses the right one', async () => {
      await users.add('acme', { username: 'kate', password: PASSWORD });
      let compared = 0;
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          throttle.attempt('acme', 'kate', `192.0.2.${100 + i}`, 'password', async () => {
            compared++;
            return users.verifyPassword('acme', 'kate', `wrong password ${i}`);
          }),
        ),
      );
      expect(compared).toBe(5);
      expect(results.filter((r) => r.outcome === 'invalid')).toHaveLength(5);
      expect(results.filter((r) => r.outcome === 'locked')).toHaveLength(15);
      expect(await credentials.signIn('acme', 'kate', PASSWORD, '192.0.2.200')).toMatchObject({ outcome: 'locked', reason: 'user' });
      expect((await throttle.failures('acme', 'kate', '192.0.2.200')).user).toBe(5);
    });

    it('compares exactly 20 of 40 parallel guesses from one address, over many users', async () => {
      const ip = '192.0.2.77';
      let compared = 0;
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          throttle.attempt('acme', `spray-${i}`, ip, 'password', async () => {
            compared++;
            return undefined;
          }),
        ),
      );
      expect(compared).toBe(20);
      expect(results.filter((r) => r.outcome === 'locked' && r.reason === 'ip')).toHaveLength(20);
      expect((await throttle.failures('acme', 'x', ip)).ip).toBe(20);
      // The refused ones gave their user tries back.
      expect((await Promise.all(Array.from({ length: 40 }, (_, i) => throttle.failures('acme', `spray-${i}`, ip)))).reduce((n, f) => n + f.user, 0)).toBe(20);
      expect(await credentials.signIn('acme', 'carol', PASSWORD, ip)).toMatchObject({ outcome: 'locked', reason: 'ip' });
    });

    it('gives the address its try back on a success', async () => {
      const ip = '192.0.2.78';
      await wrongGuess('spray-x', ip);
      expect(await credentials.signIn('acme', 'carol', PASSWORD, ip)).toMatchObject({ outcome: 'ok' });
      expect((await throttle.failures('acme', 'carol', ip)).ip).toBe(1);
    });

    it('counts a guess made without a user name (a device user code) on the address alone, 20 of 40 parallel ones compared', async () => {
      const ip = '192.0.2.79';
      expect(await throttle.attemptFromAddress('acme', ip, async () => 'found')).toEqual({ outcome: 'ok', value: 'found' });
      expect((await throttle.failures('acme', 'x', ip)).ip).toBe(0); // a right answer gives its try back
      let compared = 0;
      const results = await Promise.all(
        Array.from({ length: 40 }, () =>
          throttle.attemptFromAddress('acme', ip, async () => {
            compared++;
            return undefined;
          }),
        ),
      );
      expect(compared).toBe(20);
      expect(results.filter((r) => r.outcome === 'invalid')).toHaveLength(20);
      expect(results.filter((r) => r.outcome === 'locked' && r.reason === 'ip')).toHaveLength(20);
      // Locked: refused without comparing, and password sign-ins from the address with it.
      expect(await throttle.attemptFromAddress('acme', ip, async () => 'found')).toMatchObject({ outcome: 'locked', reason: 'ip' });
      expect(await credentials.signIn('acme', 'carol', PASSWORD, ip)).toMatchObject({ outcome: 'locked', reason: 'ip' });
      expect(await throttle.attemptFromAddress('acme', '192.0.2.80', async () => 'found')).toMatchObject({ outcome: 'ok' });
    });

    it('keeps no source address in clear in the state table', async () => {
      const ip = '198.18.0.42';
      await wrongGuess('carol', ip);
      const key = loginThrottleKeys.ip('acme', ip);
      expect(key.PK).not.toContain(ip);
      const item = await backend.state.get(key);
      expect(item).toMatchObject({ failures: 1 });
      expect(JSON.stringify(item)).not.toContain(ip);
      expect(loginThrottleKeys.ip('acme', '::FFFF:198.18.0.42')).toEqual(key);
      await throttle.clear('acme', 'carol');
    });
  });

  describe('TOTP', () => {
    it('enrols with the defaults apps expect and stores the secret only wrapped', async () => {
      await users.add('acme', { username: 'liam', password: PASSWORD });
      expect(await totp.isEnrolled('acme', 'liam')).toBe(false);
      const { uri, secretBase32 } = await totp.enroll('acme', 'liam', 'Acme Corp');
      expect(uri).toMatch(/^otpauth:\/\/totp\/Acme%20Corp:liam\?/);
      expect(uri).toContain(`secret=${secretBase32}`);
      expect(uri).toMatch(/algorithm=SHA1/);
      expect(uri).toMatch(/digits=6/);
      expect(uri).toMatch(/period=30/);
      expect(Secret.fromBase32(secretBase32).bytes).toHaveLength(20);
      expect(await totp.isEnrolled('acme', 'liam')).toBe(true);

      const item = await backend.directory.get<Item & { version: number; user: { version: number }; totp: Record<string, unknown> }>(
        directoryKeys.user('acme', 'liam'),
      );
      const raw = Secret.fromBase32(secretBase32).bytes;
      const stored = JSON.stringify(item);
      for (const form of [secretBase32, Buffer.from(raw).toString('hex'), Buffer.from(raw).toString('base64'), Buffer.from(raw).toString('base64url')]) {
        expect(stored).not.toContain(form);
        expect(stored.toLowerCase()).not.toContain(form.toLowerCase());
      }
      expect(item?.totp).toMatchObject({ wrapped: { provider: name === 'embedded' ? 'local' : 'kms' }, enrolledAt: expect.any(String) });
      expect(item?.version).toBe(2);
      expect(item?.user.version).toBe(2);
      // The wrapped secret opens only for this user.
      await expect(backend.custody.unwrap(item!.totp['wrapped'] as never, { tenant: 'acme', card: 'totp', slot: 'carol' })).rejects.toThrow(ValidationError);
    });

    it('accepts a current code once, refuses its replay, a wrong code and an older step', async () => {
      await users.add('acme', { username: 'mona' });
      const { secretBase32 } = await totp.enroll('acme', 'mona', 'Acme Corp');
      const now = clock.now();
      const current = codeAt(secretBase32, now);
      const wrong = String((Number(current) + 1) % 1_000_000).padStart(6, '0');
      expect(await totp.verify('acme', 'mona', wrong)).toBe(false);
      expect(await totp.verify('acme', 'mona', current)).toBe(true);
      expect(await totp.verify('acme', 'mona', current)).toBe(false);
      expect(await totp.verify('acme', 'mona', codeAt(secretBase32, now - 30_000))).toBe(false);
      // The next step is accepted (one step of drift), then time moves on and the window follows it.
      expect(await totp.verify('acme', 'mona', codeAt(secretBase32, now + 30_000))).toBe(true);
      clock.advance(90);
      expect(await totp.verify('acme', 'mona', codeAt(secretBase32, now + 30_000))).toBe(false);
      expect(await totp.verify('acme', 'mona', codeAt(secretBase32, clock.now()))).toBe(true);
      // Two steps away is outside the window.
      expect(await totp.verify('acme', 'mona', codeAt(secretBase32, clock.now() + 60_000))).toBe(false);
    });

    it('accepts exactly one of 10 concurrent submissions of the same code', async () => {
      await users.add('acme', { username: 'nina' });
      const { secretBase32 } = await totp.enroll('acme', 'nina', 'Acme Corp');
      const current = codeAt(secretBase32, clock.now());
      const results = await Promise.all(Array.from({ length: 10 }, () => totp.verify('acme', 'nina', current)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await totp.verify('acme', 'nina', current)).toBe(false);
    });

    it('refuses unknown, unenrolled and disabled users, and codes after removal', async () => {
      await users.add('acme', { username: 'omar' });
      expect(await totp.verify('acme', 'nobody', '123456')).toBe(false);
      expect(await totp.verify('acme', 'omar', '123456')).toBe(false);
      const { secretBase32 } = await totp.enroll('acme', 'omar', 'Acme Corp');
      await users.disable('acme', 'omar');
      expect(await totp.verify('acme', 'omar', codeAt(secretBase32, clock.now()))).toBe(false);

      await users.add('acme', { username: 'pia' });
      const pia = await totp.enroll('acme', 'pia', 'Acme Corp');
      expect(await totp.remove('acme', 'pia')).toBe(true);
      expect(await totp.remove('acme', 'pia')).toBe(false);
      expect(await totp.isEnrolled('acme', 'pia')).toBe(false);
      expect(await totp.verify('acme', 'pia', codeAt(pia.secretBase32, clock.now()))).toBe(false);
      await expect(totp.remove('acme', 'nobody')).rejects.toThrow(NotFoundError);
      await expect(totp.enroll('acme', 'nobody', 'Acme Corp')).rejects.toThrow(NotFoundError);
      await expect(totp.enroll('acme', 'pia', 'Bad: issuer')).rejects.toThrow(ValidationError);
    });

    it('replaces the secret on re-enrolment: the old one stops working', async () => {
      await users.add('acme', { username: 'quinn' });
      const first = await totp.enroll('acme', 'quinn', 'Acme Corp');
      const second = await totp.enroll('acme', 'quinn', 'Acme Corp');
      expect(second.secretBase32).not.toBe(first.secretBase32);
      const now = clock.now();
      if (codeAt(first.secretBase32, now) !== codeAt(second.secretBase32, now)) {
        expect(await totp.verify('acme', 'quinn', codeAt(first.secretBase32, now))).toBe(false);
      }
      expect(await totp.verify('acme', 'quinn', codeAt(second.secretBase32, now))).toBe(true);
    });

    it('counts wrong codes on their own counter, which a right password does not clear', async () => {
      await users.add('acme', { username: 'rosa', password: PASSWORD });
      const { secretBase32 } = await totp.enroll('acme', 'rosa', 'Acme Corp');
      const ip = '198.51.100.60';
      const wrong = (n: number) => String((Number(codeAt(secretBase32, clock.now())) + 1 + n) % 1_000_000).padStart(6, '0');
      // "Right password, 4 wrong codes", then the right password again: the codes' count is still there.
      expect(await credentials.signIn('acme', 'rosa', PASSWORD, ip)).toMatchObject({ outcome: 'ok' });
      for (let i = 0; i < 4; i++) expect(await credentials.verifyOneTimeCode('acme', 'rosa', wrong(i), ip)).toEqual({ outcome: 'invalid' });
      expect(await credentials.signIn('acme', 'rosa', PASSWORD, ip)).toMatchObject({ outcome: 'ok' });
      expect((await throttle.failures('acme', 'rosa', ip)).otp).toBe(4);
      expect(await credentials.verifyOneTimeCode('acme', 'rosa', wrong(4), ip)).toEqual({ outcome: 'invalid' });
      expect((await throttle.failures('acme', 'rosa', ip)).otp).toBe(5);
      expect(await credentials.verifyOneTimeCode('acme', 'rosa', codeAt(secretBase32, clock.now()), ip)).toMatchObject({ outcome: 'locked', reason: 'user' });
      // The password step stays open: its counter is another one.
      expect(await credentials.signIn('acme', 'rosa', PASSWORD, ip)).toMatchObject({ outcome: 'ok' });
      // An administrator's unlock clears it; then a right code signs in and resets the count.
      await throttle.clear('acme', 'rosa');
      expect(await credentials.verifyOneTimeCode('acme', 'rosa', wrong(0), ip)).toEqual({ outcome: 'invalid' });
      expect(await credentials.verifyOneTimeCode('acme', 'rosa', ` ${codeAt(secretBase32, clock.now())} `, ip)).toEqual({ outcome: 'ok' });
      expect((await throttle.failures('acme', 'rosa', ip)).otp).toBe(0);
    });

    it('emits one security event per code step, naming the method (totp or recovery-code) and never the code', async () => {
      await users.add('acme', { username: 'tara', password: PASSWORD });
      const { secretBase32 } = await totp.enroll('acme', 'tara', 'Acme Corp');
      const events: SecurityEvent[] = [];
      const observed = new Credentials(users, throttle, totp, { emit: (event) => void events.push(event) });
      const ip = '198.51.100.90';
      const right = codeAt(secretBase32, clock.now());
      const wrong = (n: number) => String((Number(right) + 1 + n) % 1_000_000).padStart(6, '0');
      expect(await observed.verifyOneTimeCode('acme', 'tara', wrong(0), ip)).toEqual({ outcome: 'invalid' });
      expect(await observed.verifyOneTimeCode('acme', 'tara', 'abcde-fghij', ip)).toEqual({ outcome: 'invalid' });
      expect(await observed.verifyOneTimeCode('acme', 'tara', right, ip)).toEqual({ outcome: 'ok' });
      // The right code reset the count: five more wrong ones, then the sixth try meets the lock.
      for (let i = 1; i <= 6; i++) await observed.verifyOneTimeCode('acme', 'tara', wrong(i), ip);
      expect(events.map((event) => [event.kind, event.reason])).toEqual([
        ['sign-in-failure', 'totp'],
        ['sign-in-failure', 'recovery-code'],
        ['sign-in-success', 'totp'],
        ...Array.from({ length: 5 }, () => ['sign-in-failure', 'totp']),
        ['lockout', 'otp:user'],
      ]);
      expect(events[0]).toEqual({ kind: 'sign-in-failure', tenant: 'acme', username: 'tara', ip, reason: 'totp' });
      await throttle.clear('acme', 'tara');
    });

    it('compares exactly 5 of 20 parallel codes', async () => {
      await users.add('acme', { username: 'sven', password: PASSWORD });
      const { secretBase32 } = await totp.enroll('acme', 'sven', 'Acme Corp');
      const right = codeAt(secretBase32, clock.now());
      const codes = Array.from({ length: 20 }, (_, i) => String((Number(right) + 1 + i) % 1_000_000).padStart(6, '0'));
      const results = await Promise.all(codes.map((code, i) => credentials.verifyOneTimeCode('acme', 'sven', code, `198.51.100.${70 + i}`)));
      expect(results.filter((r) => r.outcome === 'invalid')).toHaveLength(5);
      expect(results.filter((r) => r.outcome === 'locked')).toHaveLength(15);
      expect(await credentials.verifyOneTimeCode('acme', 'sven', right, '198.51.100.99')).toMatchObject({ outcome: 'locked', reason: 'user' });
    });
  });
});
